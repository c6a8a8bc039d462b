import { pino, type DestinationStream, type Logger } from 'pino';
import { RE2JS } from 're2js';
import { JochError } from './errors.js';
import { secretDetector } from './scan/secrets.js';
import { knownSecrets, type KnownSecrets } from './secrets/known.js';

/** An operator-registered pattern: matches are replaced by `[REDACTED:<NAME>]`. */
export interface RedactPattern {
  readonly name: string;
  /** RE2 syntax (linear time), unanchored. */
  readonly regex: string;
}

export interface RedactorOptions {
  readonly known?: KnownSecrets;
  /** Patterns by environment; `*` applies everywhere. */
  readonly patterns?: Readonly<Record<string, readonly RedactPattern[]>>;
  /** The environment this process serves: selects its patterns beside `*`. */
  readonly environment?: string;
}

export type Redactor = (text: string) => string;

const PATTERN_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Compiled once: the known secret values (every spelling, read from the registry as it grows),
 * the secret-shaped strings of src/scan/secrets.ts (provider key formats, bearer tokens,
 * private keys, JWTs), and the operator's patterns for this environment. Applied to whole
 * serialized lines (log records, audit records, traces), so no field can escape it.
 */
export function createRedactor(options: RedactorOptions = {}): Redactor {
  const known = options.known ?? knownSecrets;
  const chosen = [...(options.patterns?.['*'] ?? []), ...(options.environment !== undefined ? (options.patterns?.[options.environment] ?? []) : [])];
  const patterns = chosen.map((p) => {
    if (!PATTERN_NAME.test(p.name)) throw new JochError('JOCH_CONFIG', `redaction pattern name "${p.name}" must be 1-64 letters, digits, "_" or "-"`);
    try {
      return { re: RE2JS.compile(p.regex), placeholder: `[REDACTED:${p.name.toUpperCase()}]` };
    } catch (err) {
      throw new JochError('JOCH_CONFIG', `redaction pattern "${p.name}" is not a valid RE2 regular expression: ${(err as Error).message}`);
    }
  });
  return (text) => {
    let out = text;
    if (known.foundIn(out)) for (const v of known.variants()) if (out.includes(v)) out = out.split(v).join('[REDACTED:SECRET]');
    const findings = secretDetector.scan(out);
    if (findings.length > 0) {
      // Detectors report in their own order, and a bearer token can hold a JWT: left to right, overlaps skipped.
      findings.sort((a, b) => a.start - b.start);
      let built = '';
      let at = 0;
      for (const f of findings) {
        if (f.start < at) continue;
        built += `${out.slice(at, f.start)}[REDACTED:${f.type}]`;
        at = f.end;
      }
      out = built + out.slice(at);
    }
    for (const p of patterns) out = p.re.matcher(out).replaceAll(() => p.placeholder);
    return out;
  };
}

/**
 * For the agent-supplied strings of decision records, which mostly repeat those of a recent
 * decision (the same agent, host and path): the redactor's verdict on each text up to 4 KiB is
 * remembered (the last 1,024 texts) and forgotten whenever `known` learns a secret value.
 */
export function rememberingRedactor(redact: Redactor, known: KnownSecrets = knownSecrets): Redactor {
  const seen = new Map<string, string>();
  let size = known.size;
  return (text) => {
    if (text.length > 4096) return redact(text);
    if (known.size !== size || seen.size >= 1024) {
      seen.clear();
      size = known.size;
    }
    let out = seen.get(text);
    if (out === undefined) seen.set(text, (out = redact(text)));
    return out;
  };
}

export interface LoggerOptions extends RedactorOptions {
  readonly level?: string;
  readonly name?: string;
  /** Where lines go (stdout by default); tests capture them here. */
  readonly destination?: DestinationStream;
}

/**
 * The gateway's logger: pino whose every serialized line passes through the redactor before
 * it is written, so no call site can forget to redact.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const redact = createRedactor(options);
  const opts = { name: options.name ?? 'joch', level: options.level ?? 'info', hooks: { streamWrite: redact } };
  return options.destination === undefined ? pino(opts) : pino(opts, options.destination);
}
