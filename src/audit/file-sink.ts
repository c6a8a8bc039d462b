import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JochError } from '../errors.js';
import { isValidTenant, type Store } from '../state/store.js';
import type { AuditSink } from './log.js';
import { AUDIT_LOG } from './record.js';

const SUFFIX = '.audit.jsonl';
const NEWLINE = Buffer.from('\n');

/** One JSON Lines file per tenant (`<dir>/<tenant>.audit.jsonl`), appended in chain order. */
export class JsonlFileSink implements AuditSink {
  private ready: Promise<unknown> | undefined;
  constructor(private readonly dir: string) {}

  async write(tenant: string, records: readonly Uint8Array[]): Promise<void> {
    const lines = Buffer.concat(records.flatMap((r) => [r, NEWLINE]));
    this.ready ??= mkdir(this.dir, { recursive: true });
    await this.ready;
    await appendFile(join(this.dir, `${tenant}${SUFFIX}`), lines, { mode: 0o600 });
  }
}

/**
 * Memory mode with a file sink: loads the files into a fresh store at start, so chains go on
 * across restarts and `verify` covers the whole history. Lines are loaded as they are (a
 * tampered file is what verify is for).
 */
export async function loadJsonlInto(dir: string, store: Store): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new JochError('JOCH_AUDIT_FILE', `cannot read the audit folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: dir });
  }
  let loaded = 0;
  for (const name of names.filter((n) => n.endsWith(SUFFIX)).sort()) {
    const tenant = name.slice(0, -SUFFIX.length);
    if (!isValidTenant(tenant)) continue;
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n').filter((l) => l.trim() !== '');
    const length = await store.length(tenant, AUDIT_LOG);
    await store.append(tenant, AUDIT_LOG, length, lines);
    loaded += lines.length;
  }
  return loaded;
}
