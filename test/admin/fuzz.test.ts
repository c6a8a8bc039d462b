import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminUnderTest } from './helpers.js';

let admin: AdminUnderTest;
beforeAll(async () => {
  admin = await startAdmin({ staticToken: 'fuzz-admin-token-0123456789' });
});
afterAll(() => admin.close());

const ROUTES = ['/v1/policies/validate', '/v1/policies/apply', '/v1/policies', '/v1/policies/ns/name', '/v1/policies/_/x/diff', '/v1/policies/ns/name/rollback', '/v1/policies/ns/name/promote', '/v1/audit', '/v1/audit/export', '/v1/audit/verify'];

describe('admin API under arbitrary input', () => {
  it('answers every request with a JSON error code or success, never a 5xx, whatever the query and body', async () => {
    const query = fc.dictionary(fc.constantFrom('tenant', 'environment', 'version', 'from', 'to', 'limit', 'format', 'against', 'type'), fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('prod', 'staging', '0', '-1', '1e99', 'acme', 'a:b')));
    const body = fc.oneof(fc.jsonValue(), fc.record({ sources: fc.array(fc.record({ file: fc.string(), text: fc.oneof(fc.string(), fc.constant('apiVersion: joch.dev/v1alpha1\nkind: Policy\nmetadata: {name: x}\nspec: {}\n')) }), { maxLength: 2 }) }), fc.record({ environment: fc.string(), from: fc.string(), to: fc.string(), version: fc.jsonValue() }, { requiredKeys: [] }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.constantFrom('GET', 'POST'), query, body, async (route, method, q, b) => {
        const url = new URL(`${admin.url}${route}`);
        for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
        const res = await fetch(url, {
          method,
          headers: { authorization: 'Bearer fuzz-admin-token-0123456789', ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
          ...(method === 'POST' ? { body: JSON.stringify(b) } : {}),
        });
        expect(res.status).toBeLessThan(500);
        const text = await res.text();
        if (res.status >= 400) expect((JSON.parse(text) as { error: { code: string } }).error.code).toMatch(/^JOCH_[A-Z_]+$/);
      }),
      { numRuns: 150 },
    );
  });
});
