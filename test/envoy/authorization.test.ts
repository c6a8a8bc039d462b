import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../src/context/providers.js';
import { check, type Authorizer, type CheckResult } from '../../src/envoy/authorization.js';
import { AUTHORIZATION_PROTO, LOADER_OPTIONS } from '../../src/envoy/protos.js';
import { Engine } from '../../src/policy/engine.js';
import { loadPolicies } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { httpCheckRequest } from './check-client.js';

const method = protoLoader.loadSync(AUTHORIZATION_PROTO, LOADER_OPTIONS)['envoy.service.auth.v3.Authorization'] as unknown as {
  Check: {
    requestSerialize(v: object): Buffer;
    requestDeserialize(b: Buffer): object;
    responseSerialize(v: object): Buffer;
    responseDeserialize(b: Buffer): Record<string, unknown>;
  };
};
const codec = method.Check;
const engine = new Engine(new PolicySet(loadPolicies(['policies']).policies));
const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]) };

/** What Envoy would receive: our response object through Envoy's own CheckResponse codec. */
const onTheWire = (request: object) => codec.responseDeserialize(codec.responseSerialize((check(authorizer, codec.requestDeserialize(codec.requestSerialize(request)) as never) as CheckResult).response));

describe('Check through the real codecs', () => {
  it('encodes allow and deny answers as valid CheckResponses', () => {
    const allow = onTheWire(httpCheckRequest({ host: 'example.com' }));
    expect(allow).toMatchObject({ status: { code: 0 }, http_response: 'ok_response' });
    const deny = onTheWire(
      httpCheckRequest({ host: 'exfil.example.net', extensions: { namespace: 'support-platform', 'label.env': 'prod' } }),
    );
    expect(deny).toMatchObject({ status: { code: 7 }, http_response: 'denied_response', denied_response: { status: { code: 'Forbidden' } } });
  });

  it('reads raw headers (encode_raw_headers) like the header map', () => {
    const request = httpCheckRequest({ host: 'exfil.example.net', extensions: { namespace: 'support-platform', 'label.env': 'prod' } }) as {
      attributes: { request: { http: Record<string, unknown> } };
    };
    const http = request.attributes.request.http;
    http.header_map = { headers: [{ key: ':authority', raw_value: Buffer.from('exfil.example.net') }, { key: 'x-a', raw_value: Buffer.from('1') }] };
    delete http.headers;
    delete http.host;
    expect(onTheWire(request)).toMatchObject({ http_response: 'denied_response' });
  });

  it('takes a network check\'s identity from the node metadata labels (no per-route settings there)', () => {
    const network = (labels: Record<string, string>) =>
      onTheWire({
        attributes: {
          destination: { address: { socket_address: { address: '104.18.7.1', port_value: 443 } }, labels },
          tls_session: { sni: 'exfil.example.net' },
        },
      });
    expect(network({ namespace: 'support-platform', 'label.env': 'prod' })).toMatchObject({ status: { code: 7 } });
    expect(network({ namespace: 'support-platform', 'label.env': 'dev' }).status).toMatchObject({ code: 0 });
  });

  it('never throws and always answers, whatever arrives (fuzz)', () => {
    const str = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('api.openai.com', '[::1]:80', 'exfil.example.net', 'spiffe://x/ns/a/sa/b', ''));
    const request = fc.record(
      {
        attributes: fc.record(
          {
            source: fc.record({ principal: str, address: fc.record({ socket_address: fc.record({ address: str, port_value: fc.nat(70000) }) }) }, { requiredKeys: [] }),
            destination: fc.record({ address: fc.record({ socket_address: fc.record({ address: str, port_value: fc.nat(70000) }) }) }, { requiredKeys: [] }),
            request: fc.record({ http: fc.record({ method: str, path: str, host: str, scheme: str, body: str, headers: fc.dictionary(str, str) }, { requiredKeys: [] }) }, { requiredKeys: [] }),
            context_extensions: fc.dictionary(fc.oneof(str, fc.constantFrom('namespace', 'label.env', 'tenant')), str),
            tls_session: fc.record({ sni: str }, { requiredKeys: [] }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(request, (r) => {
        const answer = onTheWire(r);
        const code = (answer.status as { code?: number } | undefined)?.code ?? 0;
        expect([0, 7]).toContain(code);
      }),
      { numRuns: 500 },
    );
  });
});
