import { main } from '../../src/cli/index.js';
import type { CliIO } from '../../src/cli/io.js';

/** Runs `joch ARGV --server url()` in process as `who` (their token file), capturing its output. */
export function cliRunner(url: () => string, tokenFile: Record<string, string>): (who: string | undefined, ...argv: string[]) => Promise<{ code: number; out: string; err: string }> {
  return async (who, ...argv) => {
    let out = '';
    let err = '';
    const io: CliIO = { out: (t) => void (out += t), err: (t) => void (err += t), readStdin: async () => '' };
    const code = await main([...argv, '--server', url(), ...(who ? ['--token-file', tokenFile[who] as string] : [])], io);
    return { code, out, err };
  };
}
