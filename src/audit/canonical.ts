/**
 * The canonical encoding audit hashes are computed over: JSON with object keys sorted (UTF-16
 * code unit order) at every level, no whitespace, `undefined` members left out (as
 * JSON.stringify does). Same output as policy/canonical.ts's canonicalJson, written for the
 * audit path's volume: one string builder, no intermediate arrays per object.
 */
export function canonicalEncode(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          const v: unknown = value[i];
          out += v === undefined || typeof v === 'function' ? 'null' : canonicalEncode(v);
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined || typeof v === 'function') continue;
        if (!first) out += ',';
        first = false;
        out += `${JSON.stringify(k)}:${canonicalEncode(v)}`;
      }
      return `${out}}`;
    }
    default:
      return 'null';
  }
}
