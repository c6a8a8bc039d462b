import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { parse } from 'yaml';
import { resolveConfig } from '../../src/config.js';
import { startGateway } from '../../src/main.js';
import { EnvoyExtAuthzHarness, sendRequest } from './harness/index.js';
import { e2eScenarios, startUpstream } from './scenarios.js';

e2eScenarios('end to end through the Envoy harness (envoy/sidecar.yaml)', async () => {
  const gateway = await startGateway(
    resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: ['test/fixtures/e2e-policies'], reload: false }),
    pino({ level: 'silent' }),
  );
  const upstream = await startUpstream();
  const target = { host: '127.0.0.1', port: upstream.port };
  const harness = await EnvoyExtAuthzHarness.start({
    bootstrap: parse(readFileSync('envoy/sidecar.yaml', 'utf8')) as unknown,
    gateway: `127.0.0.1:${gateway.addresses.grpc}`,
    upstreams: { 'api.openai.com': target, 'exfil.example.net': target },
  });
  let gatewayStopped = false;
  return {
    upstream,
    send: async (r) => {
      const res = await sendRequest(harness.port, { method: r.method ?? 'GET', path: r.path, authority: r.authority, headers: r.headers ?? [], ...(r.body !== undefined ? { body: r.body } : {}) });
      return { status: res.status, headers: res.headers, text: res.text };
    },
    stopGateway: async () => {
      gatewayStopped = true;
      await gateway.close();
    },
    close: async () => {
      await harness.close();
      await upstream.close();
      if (!gatewayStopped) await gateway.close();
    },
  };
});
