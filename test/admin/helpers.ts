import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { SecretAdmin } from '../../src/admin/secrets-routes.js';
import { buildAdminServer } from '../../src/admin/server.js';
import { Checkpointer, checkpointKey } from '../../src/audit/checkpoint.js';
import { AuditLog } from '../../src/audit/log.js';
import { OidcVerifier } from '../../src/identity/oidc.js';
import { OperatorAuth } from '../../src/identity/operators.js';
import type { RoleBinding } from '../../src/identity/rbac.js';
import { MemoryStore } from '../../src/state/memory.js';
import { PolicyRepository } from '../../src/state/policies.js';
import { OneShotGrants } from '../../src/overrides/grants.js';
import { RuleDisables } from '../../src/overrides/rule-disables.js';
import type { TestIssuer } from '../identity/oidc-issuer.js';

export const BINDINGS: RoleBinding[] = [
  { subjects: ['user:alice'], role: 'operator', namespaces: ['payments'], environments: ['staging'] },
  { subjects: ['user:bob'], role: 'approver', namespaces: ['payments'], environments: ['staging', 'prod'] },
  { subjects: ['user:dave'], role: 'viewer', namespaces: ['*'], environments: ['*'] },
  { subjects: ['user:eve'], role: 'break-glass', namespaces: ['*'], environments: ['*'] },
  { subjects: ['group:platform'], role: 'admin', namespaces: ['*'], environments: ['*'] },
];

export interface AdminUnderTest {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly audit: AuditLog;
  readonly repo: PolicyRepository;
  readonly store: MemoryStore;
  /** Approvals and overrides, for a gateway in environment `prod`. */
  readonly grants: OneShotGrants;
  readonly disables: RuleDisables;
  close(): Promise<void>;
}

/** The admin server with the /v1 API on a loopback port, over the memory store. */
export async function startAdmin(auth: { issuer?: TestIssuer; staticToken?: string }, gateway: { secrets?: SecretAdmin; environment?: string } = {}): Promise<AdminUnderTest> {
  const store = new MemoryStore();
  const audit = new AuditLog({ store });
  const repo = new PolicyRepository(store);
  const key = await checkpointKey();
  const checkpointer = new Checkpointer(audit, store, key);
  const grants = new OneShotGrants(store, audit, { tenant: 'default', environment: 'prod' });
  const disables = new RuleDisables(store);
  const app = buildAdminServer(
    { ready: () => true, policies: () => ({ count: 0, version: 'x' }), metrics: new Registry(), store: () => ({ kind: store.kind, available: true }) },
    {
      repo,
      audit,
      auth: new OperatorAuth({
        ...(auth.issuer ? { oidc: new OidcVerifier({ issuer: auth.issuer.issuer, audience: 'joch-admin' }) } : {}),
        ...(auth.staticToken ? { staticToken: auth.staticToken } : {}),
        bindings: BINDINGS,
      }),
      checkpoints: { checkpointer, publicJwk: key.publicJwk },
      overrides: { grants, disables, environment: gateway.environment ?? 'prod' },
      ...gateway,
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return { app, url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, audit, repo, store, grants, disables, close: () => app.close() };
}

export type ApiAnswer = { status: number; json: Record<string, unknown> & { error?: { code: string; message: string } } };

/** Calls the admin API at `url()` as `who` (a name in `tokens`, or a raw token), with a JSON body if given. */
export function apiCaller(url: () => string, tokens: Record<string, string>): (method: string, path: string, who?: string, body?: unknown) => Promise<ApiAnswer> {
  return async (method, path, who, body) => {
    const res = await fetch(`${url()}${path}`, {
      method,
      headers: { ...(who ? { authorization: `Bearer ${tokens[who] ?? who}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text.startsWith('{') ? JSON.parse(text) : { text } };
  };
}
