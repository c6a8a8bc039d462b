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
 * Compiles a glob once into plain string operations: globs whose stars all match any run
 * use a greedy left-to-right `indexOf` walk (leftmost placement is optimal when every
 * wildcard is unrestricted); globs whose stars stop at a separator are matched label by
 * label or segment by segment. Only a path glob mixing `*` and `**` compiles to an RE2
 * program. Matching stays linear in the subject either way, and the hot path never runs a
 * backtracking regex.
 */
export function compileGlob(pattern: string, style: GlobStyle): GlobMatcher {
  if (style === 'text') return anyRun(pattern);
  if (style === 'host') return hostGlob(pattern);
  const single = /(^|[^*])\*([^*]|$)/.test(pattern);
  const double = pattern.includes('**');
  if (!single) return anyRun(pattern.replace(/\*\*/g, '*'));
  if (!double) return bySeparator(pattern, '/');
  return compileSafeRegex(pathGlobToRe2(pattern));
}

/** `*` matches any run of characters (possibly empty). */
function anyRun(pattern: string): GlobMatcher {
  const parts = pattern.split('*');
  if (parts.length === 1) return (s) => s === pattern;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  const middle = parts.slice(1, -1).filter((p) => p !== '');
  const min = first.length + last.length;
  return (s) => {
    if (s.length < min || !s.startsWith(first) || !s.endsWith(last)) return false;
    let pos = first.length;
    const end = s.length - last.length;
    for (const part of middle) {
      const at = s.indexOf(part, pos);
      if (at === -1 || at + part.length > end) return false;
      pos = at + part.length;
    }
    return true;
  };
}

/** Same number of separated pieces, each matched by its own `*`-glob (which cannot cross the separator). */
function bySeparator(pattern: string, sep: string): GlobMatcher {
  const pieces = pattern.split(sep).map(anyRun);
  return (s) => {
    const parts = s.split(sep);
    if (parts.length !== pieces.length) return false;
    for (let i = 0; i < parts.length; i++) if (!(pieces[i] as GlobMatcher)(parts[i] as string)) return false;
    return true;
  };
}

function hostGlob(pattern: string): GlobMatcher {
  if (!pattern.startsWith('*.')) return isGlob(pattern) ? bySeparator(pattern, '.') : (s) => s === pattern;
  const rest = pattern.slice(2);
  if (!isGlob(rest)) {
    // The common `*.openai.com`: a suffix test, then the labels before it must be non-empty.
    const suffix = `.${rest}`;
    return (s) => {
      if (s.length <= suffix.length || !s.endsWith(suffix)) return false;
      const labels = s.slice(0, s.length - suffix.length);
      return labels[0] !== '.' && labels[labels.length - 1] !== '.' && !labels.includes('..');
    };
  }
  const tail = bySeparator(rest, '.');
  const restLabels = rest.split('.').length;
  return (s) => {
    const labels = s.split('.');
    if (labels.length <= restLabels) return false;
    const leading = labels.slice(0, labels.length - restLabels);
    return leading.every((l) => l !== '') && tail(labels.slice(-restLabels).join('.'));
  };
}

function pathGlobToRe2(pattern: string): string {
  let out = '^';
  for (let i = 0; i < pattern.length; ) {
    if (pattern.startsWith('**', i)) {
      out += '.*';
      i += 2;
    } else if (pattern[i] === '*') {
      out += '[^/]*';
      i += 1;
    } else {
      out += (pattern[i] as string).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
      i += 1;
    }
  }
  return `${out}$`;
}
