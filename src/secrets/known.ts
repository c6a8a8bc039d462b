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

export class KnownSecrets {
  private readonly values = new Map<string, readonly string[]>();
  /** Every variant of every value, longest first; replaced (not mutated) on change. */
  private flat: readonly string[] = [];
  private listeners: (() => void)[] = [];

  /**
   * Remembers a value (a secret was fetched). Values rotated away stay known: an old key
   * still deserves redaction, and may still be valid at the provider for a while.
   */
  add(value: string): void {
    if (this.values.has(value)) return;
    this.values.set(value, variantsOf(value));
    this.rebuild();
  }

  get size(): number {
    return this.values.size;
  }

  /** Every spelling to look for, longest first. */
  variants(): readonly string[] {
    return this.flat;
  }

  /** Whether `text` holds any known value in any spelling. */
  foundIn(text: string): boolean {
    const flat = this.flat;
    for (let i = 0; i < flat.length; i++) if (text.includes(flat[i] as string)) return true;
    return false;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private rebuild(): void {
    this.flat = [...new Set([...this.values.values()].flat())].sort((a, b) => b.length - a.length);
    for (const l of this.listeners) l();
  }
}

/** The process's registry: the broker adds what it fetches, the logger redacts it. */
export const knownSecrets = new KnownSecrets();
