import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { checkClient, httpCheckRequest } from '../envoy/check-client.js';

describe('joch serve as a process', () => {
  it('starts, answers Check, reports ready, and exits 0 on SIGTERM after draining', async () => {
    const child = spawn(process.execPath, ['bin/joch.js', 'serve', '-f', 'policies', '--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => void (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
    try {
      for (let i = 0; i < 200 && !stdout.includes('joch gateway ready'); i++) await new Promise((r) => setTimeout(r, 25));
      const ready = JSON.parse(stdout.split('\n').find((l) => l.includes('joch gateway ready')) ?? '{}') as { grpc: number; admin: number; policies: number };
      expect(ready.policies).toBe(6);
      expect((await fetch(`http://127.0.0.1:${ready.admin}/readyz`)).status).toBe(200);
      const client = checkClient(ready.grpc);
      const r = await client.check(httpCheckRequest({ host: 'example.com' }));
      expect(r.status?.code ?? 0).toBe(0);
      client.close();
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
      expect(stderr).toContain('joch serve: SIGTERM: draining and shutting down');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('exits 1 with the exact problems when the policies are invalid', async () => {
    const child = spawn(process.execPath, ['bin/joch.js', 'serve', '-f', 'test/fixtures/seed-policy.yaml', '--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => void (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => void (out += c.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(out).toContain('seed-policy.yaml:24:9: JOCH_YAML_SYNTAX');
    expect(out).toContain('joch serve: JOCH_POLICIES_INVALID: the policies under test/fixtures/seed-policy.yaml are invalid');
  });

  it('rejects a bad address and a bad config file precisely', async () => {
    const run = async (args: string[]) => {
      const child = spawn(process.execPath, ['bin/joch.js', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => void (err += c.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      return { code, err };
    };
    expect(await run(['--grpc', 'nowhere'])).toEqual({ code: 1, err: 'joch serve: JOCH_CONFIG: grpc must be HOST:PORT (e.g. 127.0.0.1:9001), not "nowhere"\n' });
    const bad = await run(['--config', 'test/fixtures/bad-config.yaml']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('test/fixtures/bad-config.yaml:2:1: JOCH_CONFIG: unknown field "grcp" in the document\n  hint: did you mean "grpc"?');
  });
});
