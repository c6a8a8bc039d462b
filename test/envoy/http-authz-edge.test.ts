import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../src/context/providers.js';
import type { Authorizer } from '../../src/envoy/authorization.js';
import { httpAuthzEdge } from '../../src/envoy/http-authz.js';
import { Metrics } from '../../src/metrics.js';
import { Engine } from '../../src/policy/engine.js';
import { loadPolicies } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';

const engine = new Engine(new PolicySet(loadPolicies(['policies']).policies));
const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]) };

/** Everything a raw client reads until the server closes the connection. */
function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.once('close', () => resolve(text));
  });
}

describe('HTTP authz edge on connections accepted elsewhere (serve --workers)', () => {
  it('answers on a handed-over connection, and close waits for its request in flight', async () => {
    const edge = httpAuthzEdge(authorizer, '/authz', new Metrics(), pino({ level: 'silent' }));
    // Another server accepts and hands each socket over before a byte is read, as a worker
    // gets it from the primary's balancer.
    const front = createServer((socket) => edge.accept(socket));
    const port = await new Promise<number>((resolve) => front.listen(0, '127.0.0.1', () => resolve((front.address() as AddressInfo).port)));
    try {
      const client = connect(port, '127.0.0.1');
      const answer = readAll(client);
      // A request whose body is still on its way when the edge is told to close.
      client.write('POST /authz/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nx-forwarded-host: api.openai.com\r\nx-joch-identity-namespace: support-platform\r\nContent-Length: 4\r\n\r\n{}');
      await new Promise((r) => setTimeout(r, 50));
      let closedAt = 0;
      const closed = edge.close(3000).then(() => (closedAt = Date.now()));
      await new Promise((r) => setTimeout(r, 50));
      expect(closedAt).toBe(0);
      client.write('\r\n');
      const text = (await answer).toLowerCase();
      expect(text).toMatch(/^http\/1\.1 (200|403) /);
      expect(text).toContain('x-joch-decision-id');
      // The answer ends the connection rather than keeping it alive, so the drain is done.
      expect(text).toContain('connection: close');
      await closed;
      expect(closedAt).toBeGreaterThan(0);
      // Closing: a connection handed over now is closed at once.
      const late = connect(port, '127.0.0.1');
      expect(await readAll(late)).toBe('');
    } finally {
      await new Promise((resolve) => front.close(resolve));
    }
  });
});
