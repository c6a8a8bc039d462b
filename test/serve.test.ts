import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { JochError } from '../src/errors.js';
import { startGateway } from '../src/main.js';

const quiet = pino({ level: 'silent' });

describe('startGateway (embedded defaults)', () => {
  it('loads policies/ and serves health and readiness on the admin port', async () => {
    const gw = await startGateway({ policyPaths: ['policies'], admin: { host: '127.0.0.1', port: 0 }, defaultDecision: 'allow' }, quiet);
    try {
      const base = `http://127.0.0.1:${gw.adminAddress.port}`;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', policies: { count: 5, version: expect.stringMatching(/^sha256:/) } });
      expect(gw.engine.evaluate({ hook: 'toolCallRequest', environment: 'prod', tool: { name: 'shell' } }).reason).toBe('shell-not-permitted-in-prod');
    } finally {
      await gw.close();
    }
  });

  it('refuses to start on invalid policies, logging each problem', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    await expect(
      startGateway({ policyPaths: ['test/fixtures/seed-policy.yaml'], admin: { host: '127.0.0.1', port: 0 }, defaultDecision: 'allow' }, log),
    ).rejects.toMatchObject({ code: 'JOCH_POLICIES_INVALID' });
    expect(lines.join('')).toContain('seed-policy.yaml:24:9: JOCH_YAML_SYNTAX');
  });

  it('refuses an empty policy folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'joch-serve-'));
    writeFileSync(join(dir, 'README.txt'), 'no policies here');
    await expect(startGateway({ policyPaths: [dir], admin: { host: '127.0.0.1', port: 0 }, defaultDecision: 'allow' }, quiet)).rejects.toBeInstanceOf(JochError);
  });
});
