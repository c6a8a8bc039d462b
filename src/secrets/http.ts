import * as http from 'node:http';
import * as https from 'node:https';

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

export interface HttpCall {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** PEM CA bundle for https (a cluster CA, a private Vault CA). */
  readonly ca?: string;
  readonly timeoutMs?: number;
}

/** Larger answers from a secret store are refused: no secret is this big. */
const MAX_ANSWER = 1024 * 1024;

/**
 * One HTTP request to a secret provider. node:http(s) rather than fetch so that a private CA can
 * be given per request. Errors never carry the answer body (it may hold a secret).
 */
export function httpCall(call: HttpCall): Promise<HttpAnswer> {
  const url = new URL(call.url);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      url,
      {
        method: call.method,
        agent: false, // fetches are rare: a fresh connection each time, nothing pooled to go stale
        headers: { ...call.headers, ...(call.body !== undefined ? { 'content-length': String(Buffer.byteLength(call.body)) } : {}) },
        timeout: call.timeoutMs ?? 5000,
        ...(call.ca !== undefined && url.protocol === 'https:' ? { ca: call.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER) req.destroy(new Error(`answer larger than ${MAX_ANSWER} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${call.timeoutMs ?? 5000} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(`${url.origin}: ${err.code ?? err.message}`)));
    req.end(call.body);
  });
}
