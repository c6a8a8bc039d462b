import { readFile } from 'node:fs/promises';
import { formatProblem, type Problem } from '../errors.js';
import { UsageError } from './io.js';

/** Flags every verb that talks to the admin API takes. */
export const CLIENT_FLAGS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  tenant: { type: 'string' },
} as const;

export const CLIENT_HELP = `      --server URL         admin API (default http://127.0.0.1:9901; also JOCH_SERVER)
      --token-file FILE    file holding the bearer token (an OIDC access token or the
                           gateway's static admin token); also JOCH_TOKEN
      --tenant NAME        tenant (default: the gateway's default tenant)`;

export interface ApiError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly problems?: Problem[];
}

export type ApiResult<T> = { readonly ok: true; readonly status: number; readonly body: T } | { readonly ok: false; readonly status: number; readonly error: ApiError };

/** A client of the gateway's /v1 admin API. */
export class AdminClient {
  private constructor(
    private readonly server: string,
    private readonly token: string | undefined,
    readonly tenant: string | undefined,
  ) {}

  static async from(verb: string, values: { server?: string; 'token-file'?: string; tenant?: string }, env: NodeJS.ProcessEnv = process.env): Promise<AdminClient> {
    const server = (values.server ?? env.JOCH_SERVER ?? 'http://127.0.0.1:9901').replace(/\/$/, '');
    if (!/^https?:\/\//.test(server)) throw new UsageError(`joch ${verb}: --server must be an http(s) URL, not "${server}"`);
    let token = env.JOCH_TOKEN;
    if (values['token-file'] !== undefined) {
      try {
        token = (await readFile(values['token-file'], 'utf8')).trim();
      } catch (err) {
        throw new UsageError(`joch ${verb}: cannot read --token-file ${values['token-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    return new AdminClient(server, token, values.tenant);
  }

  /** `path` may carry a query; the tenant is added when one was given. */
  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, query: Record<string, string | undefined> = {}, body?: unknown): Promise<ApiResult<T>> {
    const url = new URL(`${this.server}${path}`);
    for (const [k, v] of Object.entries({ ...query, tenant: this.tenant })) if (v !== undefined) url.searchParams.set(k, v);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      return { ok: false, status: 0, error: { code: 'JOCH_UNREACHABLE', message: `cannot reach the admin API at ${this.server} (${cause})`, hint: 'is the gateway running? set --server or JOCH_SERVER' } };
    }
    const text = await res.text();
    if (res.ok) return { ok: true, status: res.status, body: (res.headers.get('content-type')?.includes('application/json') ? JSON.parse(text) : text) as T };
    try {
      return { ok: false, status: res.status, error: (JSON.parse(text) as { error: ApiError }).error };
    } catch {
      return { ok: false, status: res.status, error: { code: 'JOCH_HTTP', message: `HTTP ${res.status} from ${url.pathname}` } };
    }
  }
}

/** `joch VERB: CODE: message` with hint and problems (file:line:col). */
export function formatApiError(verb: string, e: ApiError): string {
  const lines = [`joch ${verb}: ${e.code}: ${e.message}`];
  if (e.hint) lines.push(`  hint: ${e.hint}`);
  for (const p of e.problems ?? []) lines.push(formatProblem(p));
  return `${lines.join('\n')}\n`;
}
