import { compileSafeRegex } from './regex.js';

/**
 * How `*` behaves depends on what is being matched:
 * - `host`: a leading `*.` matches one or more whole labels (any depth, as Envoy's virtual
 *   host wildcards do: `*.openai.com` matches `api.openai.com` and `eu.api.openai.com`, not
 *   `openai.com`); any other `*` stays inside one label (`api-*.example.com`), so
 *   `api.openai.*` can never match `api.openai.evil.com`.
 * - `path`: `*` stays inside one path segment, `**` crosses segments.
 * - `text`: `*` matches any run of characters.
 */
export type GlobStyle = 'host' | 'path' | 'text';

export type GlobMatcher = (subject: string) => boolean;

export function isGlob(pattern: string): boolean {
  return pattern.includes('*');
}

/**
 * Compiles a glob once. The one-wildcard shapes that make up nearly every real policy
 * (`*.openai.com`, `/v1/*`, `gpt-4*`) compile to prefix/suffix checks; anything with more
 * wildcards compiles to an RE2 program, so matching stays linear in the subject either way.
 */
export function compileGlob(pattern: string, style: GlobStyle): GlobMatcher {
  if (style === 'host' && pattern.startsWith('*.') && !pattern.slice(2).includes('*')) {
    const suffix = pattern.slice(1); // ".openai.com": at least one non-empty label must precede it
    return (s) => {
      if (s.length <= suffix.length || !s.endsWith(suffix)) return false;
      const labels = s.slice(0, s.length - suffix.length);
      return labels[0] !== '.' && labels[labels.length - 1] !== '.' && !labels.includes('..');
    };
  }
  const stars = pattern.split('*').length - 1;
  if (stars === 1) {
    const at = pattern.indexOf('*');
    const prefix = pattern.slice(0, at);
    const suffix = pattern.slice(at + 1);
    const sep = separator(style);
    const min = prefix.length + suffix.length;
    return (s) => {
      if (s.length < min || !s.startsWith(prefix) || !s.endsWith(suffix)) return false;
      if (sep === undefined) return true;
      const hit = s.indexOf(sep, prefix.length); // the gap the wildcard covers must not cross a separator
      return hit === -1 || hit >= s.length - suffix.length;
    };
  }
  return compileSafeRegex(globToRe2(pattern, style));
}

function separator(style: GlobStyle): string | undefined {
  if (style === 'host') return '.';
  if (style === 'path') return '/';
  return undefined;
}

function globToRe2(pattern: string, style: GlobStyle): string {
  let out = '^';
  let i = 0;
  if (style === 'host' && pattern.startsWith('*.')) {
    out += '(?:[^.]+\\.)+';
    i = 2;
  }
  const sep = separator(style);
  const one = sep === undefined ? '.*' : `[^${escapeRe(sep)}]*`;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === '*') {
      const double = pattern[i + 1] === '*';
      out += double && style === 'path' ? '.*' : one;
      i += double ? 2 : 1;
    } else {
      out += escapeRe(c);
      i += 1;
    }
  }
  return `${out}$`;
}

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
