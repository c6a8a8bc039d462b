import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HttpRequestInfo } from '../context/http-request.js';
import { extensionsFromHeaders } from '../context/identity.js';
import type { Metrics } from '../metrics.js';
import type { InjectedHeader } from '../secrets/inject.js';
import { authorizeHttp, edgeDeny, type Authorizer } from './authorization.js';
import { DECISION_HEADER, denialBody } from './check-response.js';

export interface HttpAuthzEdge {
  /** Binds and listens; resolves with the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Serves a connection accepted elsewhere (`serve --workers`: the primary hands it over). */
  accept(socket: Socket): void;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** Bodies larger than this are refused (413) rather than buffered. */
const MAX_BODY = 1024 * 1024;

/**
 * The HTTP authorization service mode, for Envoy's ext_authz `http_service` and nginx
 * `auth_request`, on its own data-plane port. Envoy sends the original method, headers and
 * `path_prefix + path`; nginx sends a subrequest with `X-Original-URI` / `X-Original-Method`.
 * 200 allows (the headers in the answer are set upstream, via Envoy's
 * `allowed_upstream_headers`); 403 (or the decision's status) with a JSON body denies.
 * Envoy's http_service cannot remove upstream headers, so a removal is answered by setting
 * the header to an empty value.
 *
 * Agent identity in this mode comes from `x-joch-identity-<key>` headers with the same keys
 * as context_extensions (`x-joch-identity-namespace`, `x-joch-identity-label.env`, ...).
 * Only the proxy may set them: configure Envoy's `authorization_request.headers_to_add` (or
 * nginx `proxy_set_header`) and never forward an agent's own `x-joch-identity-*` headers.
 */
export function httpAuthzEdge(authorizer: Authorizer, pathPrefix: string, metrics: Metrics, log: Logger): HttpAuthzEdge {
  let closing = false;
  let drained: (() => void) | undefined;
  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    readBody(req)
      .then(async (body) => {
        const info = requestInfo(req, pathPrefix, body);
        const result = info === undefined ? undefined : await authorizeHttp(authorizer, info, extensionsFromHeaders(info.headers), undefined);
        const d = result?.decision ?? edgeDeny('malformed-request', `the path must start with ${pathPrefix} and a Host header is required`, authorizer.engine().policies.version);
        if (result?.failure !== undefined || result === undefined) metrics.error('http_service', result?.failure ?? 'malformed');
        authorizer.recorder?.recordDecision(d, result?.context, 'http_service');
        respond(res, d, result?.injected, closing);
        metrics.decision('http_service', d, Number(process.hrtime.bigint() - started) / 1e9);
      })
      .catch((err: Error & { status?: number }) => {
        const d = edgeDeny(err.status === 413 ? 'body-too-large' : 'internal-error', err.status === 413 ? `request bodies are limited to ${MAX_BODY} bytes` : 'the gateway failed to decide; denied (fail closed)', authorizer.engine().policies.version, err.status ?? 403);
        metrics.error('http_service', err.status === 413 ? 'too-large' : 'internal');
        authorizer.recorder?.recordDecision(d, undefined, 'http_service');
        log.warn({ decisionId: d.decisionId, reason: d.reason }, d.message ?? 'http authz denied');
        respond(res, d, undefined, closing);
      });
  });
  // Connections handed over are not the server's own (server.close() does not wait for them).
  const accepted = new Set<Socket>();
  return {
    listen: (host, port) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    accept: (socket) => {
      if (closing) return void socket.destroy();
      accepted.add(socket);
      socket.once('close', () => {
        accepted.delete(socket);
        if (closing && accepted.size === 0) drained?.();
      });
      server.emit('connection', socket);
    },
    close: (graceMs = 5000) => {
      closing = true;
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.closeAllConnections();
          for (const s of accepted) s.destroy();
        }, graceMs);
        force.unref();
        let serverClosed = false;
        drained = () => {
          if (!serverClosed || accepted.size > 0) return;
          clearTimeout(force);
          resolve();
        };
        server.close(() => {
          serverClosed = true;
          drained?.();
        });
        // Idle keep-alive connections close now; busy ones after their answer (respond: last).
        server.closeIdleConnections();
      });
    },
  };
}

function requestInfo(req: IncomingMessage, prefix: string, body: string): HttpRequestInfo | undefined {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  const originalUri = headers['x-original-uri'];
  const url = req.url ?? '';
  let path: string;
  if (originalUri !== undefined) path = originalUri;
  else if (url === prefix || url.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`)) path = url.slice(prefix.length) || '/';
  else return undefined;
  const authority = headers['x-forwarded-host'] ?? headers.host;
  if (authority === undefined) return undefined;
  return {
    method: (headers['x-original-method'] ?? req.method ?? 'GET').toUpperCase(),
    path: path.startsWith('/') ? path : `/${path}`,
    authority,
    headers,
    ...(headers['x-forwarded-proto'] !== undefined ? { scheme: headers['x-forwarded-proto'] } : {}),
    ...(body !== '' ? { body } : {}),
  };
}

/** `last`: the edge is closing, so the connection ends with this answer (not kept alive). */
function respond(res: ServerResponse, d: ReturnType<typeof edgeDeny>, injected: readonly InjectedHeader[] | undefined, last: boolean): void {
  if (last) res.setHeader('connection', 'close');
  if (d.decision === 'deny') {
    res.writeHead(d.status ?? 403, { 'content-type': 'application/json', [DECISION_HEADER]: d.decisionId });
    res.end(denialBody(d));
    return;
  }
  const headers: Record<string, string> = { [DECISION_HEADER]: d.decisionId };
  for (const [k, v] of Object.entries(d.modifiedRequest?.headers?.set ?? {})) headers[k] = v;
  for (const k of d.modifiedRequest?.headers?.remove ?? []) headers[k] ??= '';
  for (const h of injected ?? []) headers[h.header] = h.value;
  res.writeHead(200, headers);
  res.end();
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
      else if (size - chunk.length <= MAX_BODY) reject(Object.assign(new Error('body too large'), { status: 413 })); // the rest is read and dropped
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
