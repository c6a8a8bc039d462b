import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import type { CliIO } from '../../src/cli/io.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { out: (t) => void (out += t), err: (t) => void (err += t), readStdin: async () => '' };
  const code = await main(argv, io);
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'joch-secret-cli-'));
const INLINE = 'sk-proj-Zx81Yw72Xv63Wu54Vt45Us36Tr27Qs18';

describe('joch validate with Secrets beside Policies', () => {
  it('counts Secrets, and reports an inline value and a dangling inject without printing the value', async () => {
    const good = join(dir, 'good');
    const bad = join(dir, 'bad');
    for (const d of [good, bad]) mkdirSync(d);
    const policy = (secret: string) => `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: keys}
spec:
  rules:
    - when: {destination.host: api.openai.com}
      action: {inject: {header: authorization, secret: ${secret}, format: "Bearer {value}"}}
`;
    writeFileSync(join(good, 'all.yaml'), `apiVersion: joch.dev/v1alpha1\nkind: Secret\nmetadata: {name: openai}\nspec: {env: {name: OPENAI_API_KEY}}\n---\n${policy('openai')}`);
    expect(await run(['validate', '-f', good])).toEqual({ code: 0, out: '1 policy and 1 secret in 1 file: valid\n', err: '' });
    writeFileSync(join(bad, 'all.yaml'), `apiVersion: joch.dev/v1alpha1\nkind: Secret\nmetadata: {name: openai}\nspec: {env: {name: ${INLINE}}}\n---\n${policy('anthropic')}`);
    const r = await run(['validate', '-f', bad]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('JOCH_SECRET_INLINE_VALUE: "name" looks like a secret value, not a reference');
    expect(r.out).toContain('JOCH_SECRET_UNKNOWN: rule "rules[0]" of policy "keys" injects secret "anthropic"');
    expect(r.out).not.toContain(INLINE);
  });
});

describe('joch secret rotate', () => {
  it('is listed in help and refuses bad usage (exit 2)', async () => {
    expect((await run(['--help'])).out).toMatch(/^ {2}secret /m);
    expect((await run(['secret', '--help'])).out).toMatch(/^Usage: joch secret rotate NAME/);
    expect(await run(['secret'])).toMatchObject({ code: 2, err: expect.stringContaining('joch secret: say what to do (rotate)') });
    expect(await run(['secret', 'rotate'])).toMatchObject({ code: 2, err: expect.stringContaining('give exactly one Secret NAME') });
    expect(await run(['secret', 'rotate', 'a', '--server', 'nope'])).toMatchObject({ code: 2, err: expect.stringContaining('--server must be an http(s) URL') });
    expect(await run(['secret', 'rotate', 'a', '--operator', 'bob'])).toMatchObject({ code: 2, err: expect.stringContaining("Unknown option '--operator'") });
  });

  it('POSTs to /v1 with the bearer token from --token-file, and reports API errors with their code (exit 1)', async () => {
    const calls: { method?: string; url?: string; authorization?: string }[] = [];
    const server = createServer((req, res) => {
      calls.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
      const known = req.url === '/v1/secrets/openai/rotate';
      res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(known ? { type: 'secret.rotated', secret: 'openai', refreshed: true } : { error: { code: 'JOCH_SECRET_UNKNOWN', message: 'no Secret named "other" is loaded' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'op-token-123\n');
    const flags = ['--server', `http://127.0.0.1:${port}`, '--token-file', tokenFile];
    expect(await run(['secret', 'rotate', 'openai', ...flags])).toEqual({ code: 0, out: 'secret "openai" rotated: cached values dropped on every replica, new value fetched\n', err: '' });
    expect(calls).toEqual([{ method: 'POST', url: '/v1/secrets/openai/rotate', authorization: 'Bearer op-token-123' }]);
    expect(await run(['secret', 'rotate', 'other', ...flags])).toEqual({ code: 1, out: '', err: 'joch secret rotate: JOCH_SECRET_UNKNOWN: no Secret named "other" is loaded\n' });
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
    expect(await run(['secret', 'rotate', 'openai', ...flags])).toMatchObject({ code: 1, err: expect.stringContaining(`JOCH_UNREACHABLE: cannot reach the admin API at http://127.0.0.1:${port} (ECONNREFUSED)`) });
  });
});
