/**
 * The secret values this process holds, and the spellings under which each may travel: exact,
 * base64 (standard and URL-safe, at every byte alignment, so the value is found inside a
 * larger encoded blob such as `Basic base64(user:key)`), URL-encoded, and JSON-escaped. The
 * exfiltration guard and the log redactor both read from here; the variants are computed
 * once per value, not per request or log line.
 */

/** Shorter encoded fragments would match ordinary text by chance. */
const MIN_VARIANT = 8;

export function variantsOf(value: string): string[] {
  const out = new Set<string>([value]);
  const bytes = Buffer.from(value, 'utf8');
  for (let k = 0; k < 3; k++) {
    // With k bytes before the value, base64 characters from group ceil(k/3) to the last full
    // group depend on the value alone.
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const start = 4 * Math.ceil(k / 3);
    const end = 4 * Math.floor((k + bytes.length) / 3);
    if (end - start >= MIN_VARIANT) {
      const core = b64.slice(start, end);
      out.add(core);
      out.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  // The whole value encoded on its own, padding included, so nothing of it is left over.
  out.add(bytes.toString('base64'));
  out.add(bytes.toString('base64url'));
  const url = encodeURIComponent(value);
  out.add(url);
  out.add(url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  out.add(url.replace(/%20/g, '+'));
  out.add(JSON.stringify(value).slice(1, -1));
  // Longest first, so a redactor replaces the whole value before any fragment of it.
  return [...out].filter((v) => v.length >= Math.min(MIN_VARIANT, value.length)).sort((a, b) => b.length - a.length);
}

const BUCKETS = 1 << 16;

function prefixHash(text: string, i: number): number {
  return (text.charCodeAt(i) * 961 + text.charCodeAt(i + 1) * 31 + text.charCodeAt(i + 2)) & (BUCKETS - 1);
}

export class KnownSecrets {
  private readonly values = new Map<string, readonly string[]>();
  private readonly listeners = new Set<(value: string) => void>();
  /** Every variant of every value, longest first; replaced (not mutated) on change. */
  private flat: readonly string[] = [];
  /** Spellings by a hash of their first three characters, and which hashes occur. */
  private index: { readonly present: Uint8Array; readonly buckets: Map<number, string[]>; readonly shortest: number } = { present: new Uint8Array(BUCKETS), buckets: new Map(), shortest: Infinity };

  /**
   * Remembers a value (a secret was fetched). Values rotated away stay known: an old key
   * still deserves redaction, and may still be valid at the provider for a while.
   */
  add(value: string): void {
    if (value.length < 3 || this.values.has(value)) return;
    this.values.set(value, variantsOf(value));
    this.rebuild();
    for (const listener of this.listeners) listener(value);
  }

  /** Calls `listener` with each value added from now on (the audit thread keeps a registry of its own); returns the unsubscribe. */
  onAdd(listener: (value: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The values held (not their variants). */
  held(): string[] {
    return [...this.values.keys()];
  }

  get size(): number {
    return this.values.size;
  }

  /** Every spelling to look for, longest first. */
  variants(): readonly string[] {
    return this.flat;
  }

  /**
   * Whether `text` holds any known value in any spelling: one pass over the text, looking each
   * position up in an index of the spellings' first three characters, so the cost grows with
   * the text and hardly with the number of secrets (measured faster than `includes` per
   * spelling even for one secret).
   */
  foundIn(text: string): boolean {
    const index = this.index;
    const last = text.length - index.shortest;
    for (let i = 0; i <= last; i++) {
      const h = prefixHash(text, i);
      if (index.present[h] === 0) continue;
      for (const v of index.buckets.get(h) as string[]) if (text.startsWith(v, i)) return true;
    }
    return false;
  }

  private rebuild(): void {
    this.flat = [...new Set([...this.values.values()].flat())].sort((a, b) => b.length - a.length);
    const present = new Uint8Array(BUCKETS);
    const buckets = new Map<number, string[]>();
    for (const v of this.flat) {
      const h = prefixHash(v, 0);
      present[h] = 1;
      const b = buckets.get(h);
      if (b === undefined) buckets.set(h, [v]);
      else b.push(v);
    }
    this.index = { present, buckets, shortest: this.flat[this.flat.length - 1]?.length ?? Infinity };
  }
}

/** The process's registry: the broker adds what it fetches, the logger redacts it. */
export const knownSecrets = new KnownSecrets();
