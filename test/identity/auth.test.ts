import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcVerifier } from '../../src/identity/oidc.js';
import { OperatorAuth } from '../../src/identity/operators.js';
import { authorize, type RoleBinding } from '../../src/identity/rbac.js';
import { startIssuer, type TestIssuer } from './oidc-issuer.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await startIssuer();
});
afterAll(() => issuer.close());

describe('OIDC bearer tokens', () => {
  it('verifies tokens against the issuer JWKS (via discovery) and reads the groups claim', async () => {
    const v = new OidcVerifier({ issuer: issuer.issuer, audience: 'joch-admin' });
    expect(await v.verify(await issuer.token('alice', { groups: ['sre', 42] }))).toEqual({ id: 'alice', issuer: issuer.issuer, groups: ['sre'] });
  });

  it('rejects expired tokens, other audiences, other issuers and forged signatures', async () => {
    const v = new OidcVerifier({ issuer: issuer.issuer, audience: 'joch-admin' });
    await expect(v.verify(await issuer.token('a', {}, { expiresIn: Math.floor(Date.now() / 1000) - 120 }))).rejects.toMatchObject({ code: 'JOCH_AUTH_INVALID', message: expect.stringContaining('expired') });
    await expect(v.verify(await issuer.token('a', {}, { audience: 'other' }))).rejects.toMatchObject({ code: 'JOCH_AUTH_INVALID', message: expect.stringContaining('aud') });
    const other = await startIssuer();
    await expect(v.verify(await other.token('a'))).rejects.toMatchObject({ code: 'JOCH_AUTH_INVALID' });
    await other.close();
    const good = await issuer.token('a');
    const [h, p] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'root' })).toString('base64url')}.${good.split('.')[2]}`;
    await expect(v.verify(tampered)).rejects.toMatchObject({ code: 'JOCH_AUTH_INVALID' });
  });

  it('picks up a rotated signing key without a restart', async () => {
    const v = new OidcVerifier({ issuer: issuer.issuer, audience: 'joch-admin', jwksCooldownMs: 0 });
    await v.verify(await issuer.token('alice'));
    const before = issuer.jwksFetches();
    await issuer.rotate();
    expect(await v.verify(await issuer.token('alice'))).toMatchObject({ id: 'alice' });
    expect(issuer.jwksFetches()).toBeGreaterThan(before);
  });

  it('refuses a plain-http issuer that is not on loopback', () => {
    expect(() => new OidcVerifier({ issuer: 'http://idp.example.com', audience: 'x' })).toThrow(/https/);
  });
});

describe('operator authentication modes', () => {
  it('static admin token: admin everywhere, compared in constant time; off when OIDC is configured', async () => {
    const auth = new OperatorAuth({ staticToken: 's3cret-token' });
    const op = await auth.authenticate('Bearer s3cret-token');
    expect(auth.authorize(op, 'apply', { tenant: 'any', namespace: 'x', environment: 'prod' })).toBe('admin');
    await expect(auth.authenticate('Bearer wrong')).rejects.toMatchObject({ code: 'JOCH_AUTH_INVALID' });
    await expect(auth.authenticate(undefined)).rejects.toMatchObject({ code: 'JOCH_AUTH_REQUIRED' });
    const both = new OperatorAuth({ staticToken: 's3cret-token', oidc: new OidcVerifier({ issuer: issuer.issuer, audience: 'joch-admin' }) });
    await expect(both.authenticate('Bearer s3cret-token')).rejects.toMatchObject({ code: 'JOCH_AUTH_INVALID' });
    await expect(new OperatorAuth({}).authenticate('Bearer x')).rejects.toMatchObject({ code: 'JOCH_AUTH_NOT_CONFIGURED' });
  });
});

describe('RBAC per namespace and environment', () => {
  const bindings: RoleBinding[] = [
    { subjects: ['user:alice'], role: 'operator', namespaces: ['payments'], environments: ['staging'] },
    { subjects: ['group:release'], role: 'approver', namespaces: ['payments'], environments: ['prod'] },
    { subjects: ['user:eve'], role: 'break-glass', namespaces: ['*'], environments: ['*'] },
    { subjects: ['user:root'], role: 'admin', tenants: ['acme'], namespaces: ['*'], environments: ['*'] },
  ];
  const alice = { id: 'alice', issuer: 'i', groups: [] };
  const rel = { id: 'rita', issuer: 'i', groups: ['release'] };
  const scope = (namespace: string | null, environment: string, tenant = 'acme') => ({ tenant, namespace, environment });

  it('a staging operator cannot apply to prod or to another namespace', () => {
    expect(authorize(bindings, alice, 'apply', scope('payments', 'staging'))).toBe('operator');
    expect(() => authorize(bindings, alice, 'apply', scope('payments', 'prod'))).toThrow(expect.objectContaining({ code: 'JOCH_FORBIDDEN', hint: expect.stringContaining('operator or admin') }));
    expect(() => authorize(bindings, alice, 'apply', scope('search', 'staging'))).toThrow(/may not apply/);
    expect(() => authorize(bindings, alice, 'apply', scope(null, 'staging'))).toThrow(/namespace \(none\)/);
    expect(() => authorize(bindings, alice, 'promote', scope('payments', 'staging'))).toThrow(/may not promote/);
  });

  it('approvers promote; break-glass is its own role; admin bindings are tenant-scoped', () => {
    expect(authorize(bindings, rel, 'promote', scope('payments', 'prod'))).toBe('approver');
    const eve = { id: 'eve', issuer: 'i', groups: [] };
    expect(authorize(bindings, eve, 'override', scope('payments', 'prod'))).toBe('break-glass');
    expect(() => authorize(bindings, eve, 'read', scope('payments', 'prod'))).toThrow(/may not read/);
    const root = { id: 'root', issuer: 'i', groups: [] };
    expect(() => authorize(bindings, root, 'override', scope('payments', 'prod'))).toThrow(expect.objectContaining({ hint: expect.stringContaining('break-glass') }));
    expect(() => authorize(bindings, root, 'apply', scope('payments', 'prod', 'globex'))).toThrow(/tenant "globex"/);
  });
});
