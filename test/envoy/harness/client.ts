import * as http from 'node:http';

/** A response as the downstream client (the agent) sees it. */
export interface ClientResponse {
  readonly status: number;
  /** node:http's merged view (lower-case keys). */
  readonly headers: http.IncomingHttpHeaders;
  /** Every header line, in order, original case. */
  readonly rawHeaders: readonly (readonly [string, string])[];
  readonly body: Buffer;
  readonly text: string;
  /** The client's local port, i.e. the source port the proxy saw. */
  readonly localPort: number;
}

export interface ClientRequest {
  readonly method?: string;
  readonly path?: string;
  /** The Host header (the :authority the proxy sees). */
  readonly authority?: string;
  /** Header lines in order; repeat a name to send it twice. */
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: string | Buffer;
  /** Send the body with transfer-encoding: chunked, in these pieces (no content-length). */
  readonly chunks?: readonly (string | Buffer)[];
}

/**
 * Sends one HTTP/1.1 request to 127.0.0.1:port on a fresh connection and reads the whole
 * response. Header values are byte strings (latin1), as node:http writes them.
 */
export function sendRequest(port: number, r: ClientRequest = {}): Promise<ClientResponse> {
  const lines: string[] = ['host', r.authority ?? `127.0.0.1:${port}`];
  for (const [k, v] of r.headers ?? []) lines.push(k, v);
  if (r.body !== undefined) lines.push('content-length', String(Buffer.byteLength(r.body)));
  return new Promise((resolve, reject) => {
    let localPort = 0;
    const req = http.request({ host: '127.0.0.1', port, method: r.method ?? 'GET', path: r.path ?? '/', headers: lines, setHost: false, agent: false });
    req.on('socket', (s) => s.on('connect', () => (localPort = s.localPort ?? 0)));
    req.on('error', reject);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const raw: [string, string][] = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) raw.push([res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string]);
        const body = Buffer.concat(parts);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: raw, body, text: body.toString('utf8'), localPort });
      });
    });
    if (r.chunks !== undefined) {
      for (const c of r.chunks) req.write(c);
      req.end();
    } else {
      req.end(r.body);
    }
  });
}
