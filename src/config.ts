import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { RedactPattern } from './log.js';
import type { DefaultOutcome } from './policy/engine.js';
import { JochError, formatProblem } from './errors.js';
import { schemaCheck } from './policy/schema-check.js';
import { parseYaml } from './policy/yaml-source.js';
import { resolveStateSettings, type StateInput, type StateSettings } from './state/settings.js';
import configSchema from './config.schema.json' with { type: 'json' };

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The one typed configuration of a gateway process. */
export interface GatewayConfig {
  readonly policies: readonly string[];
  readonly grpc: HostPort;
  readonly http: HostPort;
  readonly httpPathPrefix: string;
  readonly admin: HostPort;
  readonly defaultDecision: DefaultOutcome;
  readonly environmentDefaults: Readonly<Record<string, DefaultOutcome>>;
  readonly providers: Readonly<Record<string, readonly string[]>>;
  readonly reload: boolean;
  readonly logLevel: string;
  /** Processes serving Envoy: 1 (this one), or N node:cluster workers beside a primary that keeps the state. */
  readonly workers: number;
  /** Store, audit log, policy source, operator authentication, default tenant. */
  readonly state: StateSettings;
  /** The environment this gateway serves; selects its redaction patterns. */
  readonly environment?: string;
  /** Operator-registered log redaction patterns by environment (`*`: every environment). */
  readonly redactPatterns: Readonly<Record<string, readonly RedactPattern[]>>;
  /** Secret rotations reach the other replicas through Redis pub/sub when set. */
  readonly secrets: { readonly redis?: string; readonly channel?: string };
}

/** As written in a config file, in JOCH_* variables or in flags: every field optional, addresses as text. */
export interface ConfigInput extends StateInput {
  policies?: string[];
  grpc?: string;
  http?: string;
  httpPathPrefix?: string;
  admin?: string;
  defaultDecision?: string;
  environmentDefaults?: Record<string, DefaultOutcome>;
  providers?: Record<string, string[]>;
  reload?: boolean;
  logLevel?: string;
  /** A number, or `auto` (one per available core). */
  workers?: number | string;
  environment?: string;
  redactPatterns?: Record<string, RedactPattern[]>;
  secrets?: { redis?: string; channel?: string };
}

export const DEFAULTS = {
  policies: ['policies'],
  grpc: '127.0.0.1:9001',
  http: '127.0.0.1:9002',
  httpPathPrefix: '/authz',
  admin: '127.0.0.1:9901',
  defaultDecision: 'allow',
  logLevel: 'info',
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const checkConfig = schemaCheck(configSchema, 'JOCH_CONFIG');

/** Reads and validates a config file; every problem is reported with file:line:col. */
export function readConfigFile(file: string): ConfigInput {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new JochError('JOCH_CONFIG', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file });
  }
  const parsed = parseYaml(file, text);
  const doc = parsed.documents[0];
  const problems = [...parsed.problems];
  if (doc !== undefined) {
    for (const p of checkConfig(doc.value)) {
      problems.push({ code: p.code, message: p.message, hint: p.hint, location: { file, ...doc.locate(p.at, p.target) } });
    }
  }
  if (problems.length > 0) throw new JochError('JOCH_CONFIG', problems.map(formatProblem).join('\n'), { file });
  return (doc?.value ?? {}) as ConfigInput;
}

/** JOCH_POLICIES (comma-separated), JOCH_GRPC, JOCH_HTTP, JOCH_ADMIN, JOCH_DEFAULT_DECISION, JOCH_LOG_LEVEL, JOCH_ENVIRONMENT, JOCH_STORE_URL, JOCH_ADMIN_TOKEN, JOCH_TENANT, JOCH_WORKERS. */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: ConfigInput = {};
  if (env.JOCH_POLICIES) out.policies = env.JOCH_POLICIES.split(',').filter(Boolean);
  if (env.JOCH_GRPC) out.grpc = env.JOCH_GRPC;
  if (env.JOCH_HTTP) out.http = env.JOCH_HTTP;
  if (env.JOCH_ADMIN) out.admin = env.JOCH_ADMIN;
  if (env.JOCH_DEFAULT_DECISION) out.defaultDecision = env.JOCH_DEFAULT_DECISION;
  if (env.JOCH_LOG_LEVEL) out.logLevel = env.JOCH_LOG_LEVEL;
  if (env.JOCH_STORE_URL) out.storeUrl = env.JOCH_STORE_URL;
  if (env.JOCH_ADMIN_TOKEN) out.adminToken = env.JOCH_ADMIN_TOKEN;
  if (env.JOCH_TENANT) out.tenant = env.JOCH_TENANT;
  if (env.JOCH_ENVIRONMENT) out.environment = env.JOCH_ENVIRONMENT;
  if (env.JOCH_WORKERS) out.workers = env.JOCH_WORKERS;
  return out;
}

/** Merges layers (later wins: file, env, flags) over the defaults and validates the result. */
export function resolveConfig(...layers: ConfigInput[]): GatewayConfig {
  const merged: ConfigInput = {};
  for (const layer of layers) for (const [k, v] of Object.entries(layer)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  const dd = merged.defaultDecision ?? DEFAULTS.defaultDecision;
  const level = merged.logLevel ?? DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(level)) throw new JochError('JOCH_CONFIG', `the log level must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`);
  if (dd !== 'allow' && dd !== 'deny') throw new JochError('JOCH_CONFIG', `the default decision must be allow or deny, not "${dd}"`);
  return {
    policies: merged.policies ?? [...DEFAULTS.policies],
    grpc: parseHostPort(merged.grpc ?? DEFAULTS.grpc, 'grpc'),
    http: parseHostPort(merged.http ?? DEFAULTS.http, 'http'),
    httpPathPrefix: merged.httpPathPrefix ?? DEFAULTS.httpPathPrefix,
    admin: parseHostPort(merged.admin ?? DEFAULTS.admin, 'admin'),
    defaultDecision: dd,
    environmentDefaults: merged.environmentDefaults ?? {},
    providers: merged.providers ?? {},
    reload: merged.reload ?? true,
    logLevel: level,
    workers: parseWorkers(merged.workers ?? 1),
    state: resolveStateSettings(merged),
    ...(merged.environment !== undefined ? { environment: merged.environment } : {}),
    redactPatterns: merged.redactPatterns ?? {},
    secrets: merged.secrets ?? {},
  };
}

/** Most worker processes; more than the cores only adds switching. */
const MAX_WORKERS = 64;

/** `auto` (one per available core) or a whole number from 1 to 64, as a number or text. */
export function parseWorkers(value: number | string): number {
  if (value === 'auto') return Math.min(availableParallelism(), MAX_WORKERS);
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new JochError('JOCH_CONFIG', `workers must be auto or a whole number from 1 to ${MAX_WORKERS}, not ${JSON.stringify(value)}`);
  return n;
}

export function parseHostPort(value: string, name: string): HostPort {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new JochError('JOCH_CONFIG', `${name} must be HOST:PORT (e.g. 127.0.0.1:9001), not "${value}"`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}
