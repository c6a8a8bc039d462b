// Loads the labelled corpus in test/fixtures/scan/corpus.yaml, filling in the {{…}} slots.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { DataClass } from '../../src/scan/index.js';
import { fake } from './fixtures.js';

export interface CorpusEntry {
  readonly id: string;
  readonly text: string;
  readonly expect: readonly DataClass[];
}

const values: Record<string, string> = {
  ...Object.fromEntries(Object.entries(fake).filter((e): e is [string, string] => typeof e[1] === 'string')),
  pem: fake.pem('RSA '),
  pemEscaped: JSON.stringify(fake.pem('')).slice(1, -1),
};

function fill(text: string): string {
  return text.replace(/\{\{(\w+)(?::([^}]*))?\}\}/g, (_, name: string, arg: string | undefined) => {
    if (name === 'b64') return Buffer.from(arg ?? '').toString('base64');
    if (name === 'hex') return Buffer.from(arg ?? '').toString('hex');
    if (name === 'tags') return [...(arg ?? '')].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
    const v = values[name];
    if (v === undefined) throw new Error(`corpus: unknown slot {{${name}}}`);
    return v;
  });
}

export function loadCorpus(): CorpusEntry[] {
  const raw = parse(readFileSync(new URL('../fixtures/scan/corpus.yaml', import.meta.url), 'utf8')) as { id: string; text: string; expect: DataClass[] }[];
  return raw.map((e) => ({ id: e.id, expect: e.expect, text: fill(e.text) }));
}
