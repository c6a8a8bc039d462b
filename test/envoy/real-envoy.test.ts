import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { resolveConfig } from '../../src/config.js';
import { renderSidecar } from '../../src/envoy/bootstrap.js';
import { checkBootstrap } from '../../src/envoy/bootstrap-check.js';
import { EXAMPLE_IDENTITY } from '../../src/envoy/render-files.js';
import { startGateway } from '../../src/main.js';
import { e2eScenarios, startUpstream } from './scenarios.js';

/**
 * The end-to-end scenarios against a real Envoy, run when ENVOY_BIN points at an Envoy
 * binary. The config is envoy/sidecar.yaml's renderer, ext_authz and ext_proc filters both
 * in place (as the harness suite runs it), with two test changes: it listens on loopback, and
 * since no iptables redirect exists here, `original_destination` becomes a static cluster to
 * the test upstream.
 */
const envoyBin = process.env.ENVOY_BIN;

/** envoy/sidecar.yaml's config with the test changes described above. */
function realEnvoyConfig(listenPort: number, adminPort: number, gatewayPort: number, upstreamPort: number): Record<string, unknown> {
  const config = renderSidecar({ identity: EXAMPLE_IDENTITY, port: listenPort, adminPort, gateway: { host: '127.0.0.1', port: gatewayPort } }) as unknown as {
    static_resources: { listeners: Listener[]; clusters: { name: string }[] };
  };
  const resources = config.static_resources;
  for (const l of resources.listeners) l.address.socket_address.address = '127.0.0.1';
  resources.clusters = resources.clusters.map((c) =>
    c.name === 'original_destination'
      ? {
          name: c.name,
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: c.name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } }] }] },
        }
      : c,
  );
  return config;
}

interface Listener {
  address: { socket_address: { address: string } };
}

describe('the config the real-Envoy suite runs', () => {
  it("passes the check against Envoy's Bootstrap proto, with the sidecar's ext_authz and ext_proc filters", () => {
    const config = realEnvoyConfig(15001, 15000, 9001, 8080);
    expect(checkBootstrap(config)).toEqual([]);
    expect(JSON.stringify(config)).toContain('envoy.filters.http.ext_proc');
    expect(JSON.stringify(config)).toContain('envoy.filters.http.ext_authz');
  });
});

if (!envoyBin) {
  describe('end to end through a real Envoy', () => {
    it.skip('skipped: ENVOY_BIN is not set (no Envoy binary on this machine); set ENVOY_BIN=/path/to/envoy to run it', () => {});
  });
  console.log('real-Envoy suite skipped: ENVOY_BIN is not set');
} else {
  e2eScenarios(`end to end through a real Envoy (${envoyBin})`, async () => {
    const gateway = await startGateway(
      resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: ['test/fixtures/e2e-policies'], reload: false }),
      pino({ level: 'silent' }),
    );
    const upstream = await startUpstream();
    const [listenPort, adminPort] = [await freePort(), await freePort()];
    const config = realEnvoyConfig(listenPort, adminPort, gateway.addresses.grpc, upstream.port);
    const file = join(mkdtempSync(join(tmpdir(), 'joch-envoy-')), 'sidecar.yaml');
    writeFileSync(file, stringify(config));
    const envoy: ChildProcess = spawn(envoyBin, ['-c', file, '--base-id', String(10_000 + (process.pid % 50_000)), '-l', 'warn'], { stdio: 'inherit' });
    await waitForPort(listenPort);
    let gatewayStopped = false;
    return {
      upstream,
      send: (r) => send(listenPort, r),
      stopGateway: async () => {
        gatewayStopped = true;
        await gateway.close();
      },
      close: async () => {
        envoy.kill('SIGTERM');
        await upstream.close();
        if (!gatewayStopped) await gateway.close();
      },
    };
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', headers: { host: 'probe.invalid' } }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Envoy did not listen on 127.0.0.1:${port}`);
}

function send(port: number, r: { method?: string; path: string; authority: string; headers?: [string, string][]; body?: string }): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: r.authority, ...Object.fromEntries(r.headers ?? []) };
    const req = request({ host: '127.0.0.1', port, method: r.method ?? 'GET', path: r.path, headers, setHost: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(r.body);
  });
}
