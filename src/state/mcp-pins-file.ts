import { readFile, rename, writeFile } from 'node:fs/promises';
import type { PinnedList, PinStore } from '../context/mcp-pins.js';
import { JochError } from '../errors.js';

interface PinFile {
  pinned: PinnedList[];
  pending: PinnedList[];
}

const same = (a: PinnedList, scope: string, server: string): boolean => a.scope === scope && a.server === server;

/**
 * MCP pins in one JSON file (`{"pinned": [...], "pending": [...]}`): what `joch mcp-pins`
 * reviews on a single machine. Writes replace the file atomically (write, then rename), so a
 * crash never leaves half a file. A missing file is an empty store.
 */
export class FilePinStore implements PinStore {
  constructor(readonly file: string) {}

  async all(): Promise<PinFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { pinned: [], pending: [] };
      throw new JochError('JOCH_MCP_PINS', `cannot read ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: this.file });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new JochError('JOCH_MCP_PINS', `${this.file} is not valid JSON: ${(err as Error).message}`, { file: this.file }, 'restore it from a backup, or delete it to pin every server afresh');
    }
    const v = value as Partial<PinFile> | null;
    if (typeof v !== 'object' || v === null || !Array.isArray(v.pinned) || !Array.isArray(v.pending)) {
      throw new JochError('JOCH_MCP_PINS', `${this.file} must hold {"pinned": [...], "pending": [...]}`, { file: this.file });
    }
    return { pinned: v.pinned, pending: v.pending };
  }

  async pin(list: PinnedList): Promise<void> {
    const f = await this.all();
    await this.save({ pinned: [...f.pinned.filter((p) => !same(p, list.scope, list.server)), list], pending: f.pending.filter((p) => !same(p, list.scope, list.server)) });
  }

  async setPending(list: PinnedList): Promise<void> {
    const f = await this.all();
    await this.save({ pinned: f.pinned, pending: [...f.pending.filter((p) => !same(p, list.scope, list.server)), list] });
  }

  async clearPending(scope: string, server: string): Promise<void> {
    const f = await this.all();
    await this.save({ pinned: f.pinned, pending: f.pending.filter((p) => !same(p, scope, server)) });
  }

  private async save(f: PinFile): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(f, null, 2)}\n`);
    await rename(tmp, this.file);
  }
}
