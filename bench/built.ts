import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The gateway as `joch serve` runs it: the JavaScript that `npm run build` writes to dist/,
 * not the TypeScript sources through tsx. tsx's transform names closures at run time
 * (esbuild's keepNames: a `__name` call, i.e. a defineProperty, per named closure created,
 * and a property store per function kept, 13 MB with 1,000 policies loaded), which the built
 * code does not do: measured from the sources, a Check cost ≈ 5% more CPU.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
let built = false;

/** Compiles src/ to dist/ (once per process), so what is measured is the current code. */
export function buildGateway(): void {
  if (built) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed, so there is no gateway to measure:\n${r.stdout}${r.stderr}`);
  built = true;
}

/** A module of the built gateway (`main.js` for dist/main.js), typed as its source: `builtModule<typeof import('../src/main.js')>('main.js')`. */
export async function builtModule<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'dist', path)).href)) as T;
}
