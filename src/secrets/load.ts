import type { Problem } from '../errors.js';
import { compileRead, readPolicySources } from '../policy/load.js';
import { collectingSink, type PathProblem } from '../policy/problems.js';
import type { CompiledPolicy } from '../policy/types.js';
import { parseSource, type SourceDocument, type SourceText } from '../policy/yaml-source.js';
import { compileSecret, isSecretDocument, SecretCodes, type SecretDefinition } from './resource.js';

export interface SecretLoadResult {
  readonly secrets: SecretDefinition[];
  readonly problems: Problem[];
  readonly ok: boolean;
}

/** The `kind: Secret` documents of sources the policy loader read (Secrets and Policies share files; each takes its own kind). */
export function compileSecretSources(sources: readonly SourceText[]): SecretLoadResult {
  const problems: Problem[] = [];
  const secrets: SecretDefinition[] = [];
  const seen = new Map<string, string>();
  for (const source of sources) {
    const { file } = source;
    // YAML syntax errors are the policy loader's to report; it parses the same text.
    for (const doc of parseSource(source).documents) {
      if (!isSecretDocument(doc.value)) continue;
      const found: PathProblem[] = [];
      const secret = compileSecret(doc.value, { file, line: doc.line }, collectingSink(found));
      problems.push(...found.map((p) => locate(doc, p)));
      if (!secret) continue;
      const previous = seen.get(secret.name);
      if (previous !== undefined) {
        problems.push(locate(doc, { code: SecretCodes.duplicate, message: `secret "${secret.name}" is already defined at ${previous} (Secret names are unique per gateway)`, at: ['metadata', 'name'], target: 'value', severity: 'error' }));
        continue;
      }
      seen.set(secret.name, `${file}:${doc.line}`);
      secrets.push(secret);
    }
  }
  return { secrets, problems, ok: problems.length === 0 };
}

/**
 * Every `inject` must name a loaded Secret that the injecting policy may use: an unscoped
 * Secret, or one in the policy's own namespace.
 */
export function checkSecretReferences(policies: readonly CompiledPolicy[], secrets: readonly SecretDefinition[]): Problem[] {
  const byName = new Map(secrets.map((s) => [s.name, s]));
  const problems: Problem[] = [];
  for (const p of policies) {
    for (const rule of p.rules) {
      if (rule.effect.kind !== 'modify') continue;
      for (const inj of rule.effect.headers?.inject ?? []) {
        const s = byName.get(inj.secret);
        const location = { file: rule.source.file, line: rule.source.line };
        if (s === undefined) {
          problems.push({ code: SecretCodes.unknown, message: `rule "${rule.id}" of policy "${p.name}" injects secret "${inj.secret}", which no loaded Secret defines`, location, hint: 'add a kind: Secret document with that name beside the policies', severity: 'error' });
        } else if (s.namespace !== undefined && s.namespace !== p.namespace) {
          problems.push({ code: SecretCodes.scope, message: `rule "${rule.id}" of policy "${p.name}" injects secret "${inj.secret}", which belongs to namespace "${s.namespace}"`, location, hint: 'a namespaced Secret may only be injected by policies of its namespace', severity: 'error' });
        }
      }
    }
  }
  return problems;
}

function locate(doc: SourceDocument, p: PathProblem): Problem {
  const { line, col } = doc.locate(p.at, p.target);
  return { code: p.code, message: p.message, hint: p.hint, severity: p.severity, location: { file: doc.file, line, col } };
}

export interface FolderLoadResult {
  readonly policies: CompiledPolicy[];
  readonly secrets: SecretDefinition[];
  /** Policy problems, Secret problems, then unresolved or out-of-scope Secret references. */
  readonly problems: Problem[];
  readonly ok: boolean;
  readonly files: string[];
}

/** Policies and Secrets from the same files and folders, with every `inject` checked against the Secrets. */
export function loadPolicyFolders(paths: readonly string[]): FolderLoadResult {
  // One read and one parse of every file, shared by both kinds.
  const read = readPolicySources(paths);
  const policies = compileRead(read);
  const secrets = compileSecretSources(read.sources);
  const refs = checkSecretReferences(policies.policies, secrets.secrets);
  const problems = [...policies.problems, ...secrets.problems, ...refs];
  return { policies: policies.policies, secrets: secrets.secrets, problems, ok: policies.ok && secrets.ok && refs.length === 0, files: policies.files };
}
