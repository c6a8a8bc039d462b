import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Problem } from '../errors.js';
import { compilePolicy } from './compile.js';
import { ALLOWLISTED, NOT_ALLOWLISTED } from './matchers.js';
import { Codes, collectingSink, type DocPath, type PathProblem } from './problems.js';
import type { CompiledPolicy } from './types.js';
import { parseSource, type SourceDocument, type SourceText } from './yaml-source.js';

export interface LoadResult {
  readonly policies: CompiledPolicy[];
  /** Errors and warnings, in file order; `ok` is false when any is an error. */
  readonly problems: Problem[];
  readonly ok: boolean;
  readonly files: string[];
}

const YAML_EXTENSIONS = new Set(['.yaml', '.yml']);

/** Files to load: each argument is a file, or a folder searched recursively for *.yaml / *.yml. */
export function policyFiles(paths: readonly string[]): { files: string[]; problems: Problem[] } {
  const files: string[] = [];
  const problems: Problem[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && YAML_EXTENSIONS.has(extname(entry.name))) files.push(full);
    }
  };
  for (const path of paths) {
    try {
      if (statSync(path).isDirectory()) {
        const before = files.length;
        walk(path);
        if (files.length === before) problems.push({ code: Codes.io, message: `no *.yaml or *.yml files under ${path}`, location: { file: path } });
      } else files.push(path);
    } catch (err) {
      problems.push({ code: Codes.io, message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, location: { file: path } });
    }
  }
  return { files, problems };
}

/** Loads, validates and compiles every Policy under `paths`. Never throws for bad input. */
export function loadPolicies(paths: readonly string[]): LoadResult {
  return compileRead(readPolicySources(paths));
}

/** Reads every policy file under `paths` once; what cannot be read is a problem. */
export function readPolicySources(paths: readonly string[]): { sources: SourceText[]; files: string[]; problems: Problem[] } {
  const { files, problems } = policyFiles(paths);
  const sources: SourceText[] = [];
  for (const file of files) {
    try {
      sources.push({ file, text: readFileSync(file, 'utf8') });
    } catch (err) {
      problems.push({ code: Codes.io, message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, location: { file } });
    }
  }
  return { sources, files, problems };
}

/** The policies of sources already read, with the problems met reading them. */
export function compileRead(read: { sources: readonly SourceText[]; files: string[]; problems: readonly Problem[] }): LoadResult {
  const result = compileSources(read.sources);
  return { ...result, problems: [...read.problems, ...result.problems], ok: result.ok && read.problems.length === 0, files: read.files };
}

/** Compiles policy YAML texts (already read); the pure core of `loadPolicies`. */
export function compileSources(sources: readonly SourceText[]): Omit<LoadResult, 'files'> {
  const problems: Problem[] = [];
  const policies: CompiledPolicy[] = [];
  const firstSeen = new Map<string, string>();
  const allowlistUses: { path: string; at: DocPath; doc: SourceDocument }[] = [];

  for (const source of sources) {
    const { file } = source;
    const parsed = parseSource(source);
    problems.push(...parsed.problems);
    for (const doc of parsed.documents) {
      if ((doc.value as { kind?: unknown } | null)?.kind === 'Secret') continue; // Secrets live beside policies: src/secrets/load.ts
      const found: PathProblem[] = [];
      const policy = compilePolicy(
        doc.value,
        { file, line: doc.line, lineOf: (at) => doc.locate(at, 'value').line },
        collectingSink(found),
      );
      problems.push(...found.map((p) => locate(doc, p)));
      if (!policy) continue;
      const where = `${file}:${doc.line}`;
      const previous = firstSeen.get(policy.key);
      if (previous !== undefined) {
        problems.push(
          locate(doc, {
            code: Codes.duplicate,
            message: `policy "${policy.name}"${policy.namespace ? ` in namespace "${policy.namespace}"` : ''} is already defined at ${previous}`,
            at: ['metadata', 'name'],
            target: 'value',
            severity: 'error',
          }),
        );
        continue;
      }
      firstSeen.set(policy.key, where);
      policies.push(policy);
      allowlistUses.push(...findAllowlistUses(doc));
    }
  }

  const declared = new Set(policies.flatMap((p) => [...p.allowlists.keys()]));
  for (const use of allowlistUses) {
    if (declared.has(use.path)) continue;
    problems.push(
      locate(use.doc, {
        code: Codes.allowlist,
        message: `"${use.path}" is tested against an allow-list, but no loaded policy declares one (spec.allowlists["${use.path}"]); every value is treated as not allow-listed`,
        at: use.at,
        target: 'value',
        severity: 'warning',
      }),
    );
  }
  return { policies, problems, ok: !problems.some((p) => p.severity !== 'warning') };
}

function locate(doc: SourceDocument, p: PathProblem): Problem {
  const { line, col } = doc.locate(p.at, p.target);
  return { code: p.code, message: p.message, hint: p.hint, severity: p.severity, location: { file: doc.file, line, col } };
}

/** Where rules test `not-allowlisted` / `allowlisted`, so a missing allow-list can be warned about. */
function findAllowlistUses(doc: SourceDocument): { path: string; at: DocPath; doc: SourceDocument }[] {
  const out: { path: string; at: DocPath; doc: SourceDocument }[] = [];
  const rules = ((doc.value as { spec?: { rules?: { when?: unknown }[] } }).spec?.rules ?? []) as { when?: unknown }[];
  const visitWhen = (when: unknown, at: DocPath): void => {
    if (when === null || typeof when !== 'object' || Array.isArray(when)) return;
    for (const [key, spec] of Object.entries(when)) {
      if (key === 'not') visitWhen(spec, [...at, key]);
      else if (key === 'any' || key === 'all') (Array.isArray(spec) ? spec : []).forEach((w, i) => visitWhen(w, [...at, key, i]));
      else if (usesAllowlist(spec)) out.push({ path: key, at: [...at, key], doc });
    }
  };
  rules.forEach((r, i) => visitWhen(r.when, ['spec', 'rules', i, 'when']));
  return out;
}

function usesAllowlist(spec: unknown): boolean {
  if (spec === NOT_ALLOWLISTED || spec === ALLOWLISTED) return true;
  if (Array.isArray(spec)) return spec.some(usesAllowlist);
  if (spec !== null && typeof spec === 'object') {
    return Object.entries(spec).some(([k, v]) => k === 'allowlisted' || usesAllowlist(v));
  }
  return false;
}
