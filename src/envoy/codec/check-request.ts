import type { CheckRequestMessage } from '../check-request.js';
import * as F from './fields.generated.js';
import { expectWire, Reader, WIRE_LEN, WIRE_VARINT } from '../../grpc/wire.js';

/**
 * Decodes `envoy.service.auth.v3.CheckRequest` into the shape @grpc/proto-loader gives
 * (proto field names), reading only the fields a decision uses and skipping the rest
 * without building them. Proto3 rules: the last scalar wins, repeated occurrences of a
 * message field merge, a later map entry replaces an earlier one with the same key.
 * Throws WireError on bytes that are not such a message.
 */
export function decodeCheckRequest(buf: Buffer): CheckRequestMessage {
  const r = new Reader(buf, 0, buf.length);
  const out: CheckRequestMessage = {};
  while (r.more()) {
    const tag = r.uint32();
    if (tag >>> 3 === F.CheckRequest.attributes) {
      expectWire(r, tag, WIRE_LEN);
      out.attributes = attributes(r.message(), out.attributes ?? {});
    } else r.skip(tag & 7);
  }
  return out;
}

type Attributes = NonNullable<CheckRequestMessage['attributes']>;
type Peer = NonNullable<Attributes['source']>;
type Http = NonNullable<NonNullable<Attributes['request']>['http']>;
type HeaderEntry = NonNullable<NonNullable<Http['header_map']>['headers']>[number];

function attributes(r: Reader, out: Attributes): Attributes {
  while (r.more()) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case F.AttributeContext.source:
        expectWire(r, tag, WIRE_LEN);
        out.source = peer(r.message(), out.source ?? {});
        break;
      case F.AttributeContext.destination:
        expectWire(r, tag, WIRE_LEN);
        out.destination = peer(r.message(), out.destination ?? {});
        break;
      case F.AttributeContext.request:
        expectWire(r, tag, WIRE_LEN);
        out.request = request(r.message(), out.request ?? {});
        break;
      case F.AttributeContext.context_extensions:
        expectWire(r, tag, WIRE_LEN);
        mapEntry(r.message(), (out.context_extensions ??= newMap()));
        break;
      case F.AttributeContext.tls_session:
        expectWire(r, tag, WIRE_LEN);
        out.tls_session = tlsSession(r.message(), out.tls_session ?? {});
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return out;
}

function peer(r: Reader, out: Peer): Peer {
  while (r.more()) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case F.Peer.address: {
        expectWire(r, tag, WIRE_LEN);
        const address = (out.address ??= {});
        const a = r.message();
        while (a.more()) {
          const t = a.uint32();
          if (t >>> 3 === F.Address.socket_address) {
            expectWire(a, t, WIRE_LEN);
            socketAddress(a.message(), (address.socket_address ??= {}));
          } else a.skip(t & 7);
        }
        break;
      }
      case F.Peer.labels:
        expectWire(r, tag, WIRE_LEN);
        mapEntry(r.message(), (out.labels ??= newMap()));
        break;
      case F.Peer.principal:
        expectWire(r, tag, WIRE_LEN);
        out.principal = r.string();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return out;
}

function socketAddress(r: Reader, out: NonNullable<NonNullable<Peer['address']>['socket_address']>): void {
  while (r.more()) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case F.SocketAddress.address:
        expectWire(r, tag, WIRE_LEN);
        out.address = r.string();
        break;
      case F.SocketAddress.port_value:
        expectWire(r, tag, WIRE_VARINT);
        out.port_value = r.uint32();
        break;
      default:
        r.skip(tag & 7);
    }
  }
}

function request(r: Reader, out: NonNullable<Attributes['request']>): NonNullable<Attributes['request']> {
  while (r.more()) {
    const tag = r.uint32();
    if (tag >>> 3 === F.Request.http) {
      expectWire(r, tag, WIRE_LEN);
      out.http = http(r.message(), out.http ?? {});
    } else r.skip(tag & 7);
  }
  return out;
}

function http(r: Reader, out: Http): Http {
  while (r.more()) {
    const tag = r.uint32();
    const field = tag >>> 3;
    switch (field) {
      case F.HttpRequest.headers:
        expectWire(r, tag, WIRE_LEN);
        mapEntry(r.message(), (out.headers ??= newMap()));
        break;
      case F.HttpRequest.header_map: {
        expectWire(r, tag, WIRE_LEN);
        const headerMap = (out.header_map ??= {});
        const m = r.message();
        while (m.more()) {
          const t = m.uint32();
          if (t >>> 3 === F.HeaderMap.headers) {
            expectWire(m, t, WIRE_LEN);
            (headerMap.headers ??= []).push(headerValue(m.message()));
          } else m.skip(t & 7);
        }
        break;
      }
      case F.HttpRequest.raw_body:
        expectWire(r, tag, WIRE_LEN);
        out.raw_body = r.bytes();
        break;
      case F.HttpRequest.id:
      case F.HttpRequest.method:
      case F.HttpRequest.path:
      case F.HttpRequest.host:
      case F.HttpRequest.scheme:
      case F.HttpRequest.protocol:
      case F.HttpRequest.body:
        expectWire(r, tag, WIRE_LEN);
        out[HTTP_STRING_FIELDS[field]!] = r.string();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return out;
}

const HTTP_STRING_FIELDS: Record<number, 'id' | 'method' | 'path' | 'host' | 'scheme' | 'protocol' | 'body'> = {
  [F.HttpRequest.id]: 'id',
  [F.HttpRequest.method]: 'method',
  [F.HttpRequest.path]: 'path',
  [F.HttpRequest.host]: 'host',
  [F.HttpRequest.scheme]: 'scheme',
  [F.HttpRequest.protocol]: 'protocol',
  [F.HttpRequest.body]: 'body',
};

function headerValue(r: Reader): HeaderEntry {
  const out: HeaderEntry = {};
  while (r.more()) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case F.HeaderValue.key:
        expectWire(r, tag, WIRE_LEN);
        out.key = r.string();
        break;
      case F.HeaderValue.value:
        expectWire(r, tag, WIRE_LEN);
        out.value = r.string();
        break;
      case F.HeaderValue.raw_value:
        expectWire(r, tag, WIRE_LEN);
        out.raw_value = r.bytes();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return out;
}

function tlsSession(r: Reader, out: NonNullable<Attributes['tls_session']>): NonNullable<Attributes['tls_session']> {
  while (r.more()) {
    const tag = r.uint32();
    if (tag >>> 3 === F.TLSSession.sni) {
      expectWire(r, tag, WIRE_LEN);
      out.sni = r.string();
    } else r.skip(tag & 7);
  }
  return out;
}

/** Map fields have no prototype, so a key such as `__proto__` is kept as data. */
function newMap(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

/** A `map<string, string>` entry (key = 1, value = 2 by the map encoding rule); absent parts are "". */
function mapEntry(r: Reader, into: Record<string, string>): void {
  let key = '';
  let value = '';
  while (r.more()) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | WIRE_LEN)) key = r.string();
    else if (tag === ((2 << 3) | WIRE_LEN)) value = r.string();
    else r.skip(tag & 7);
  }
  into[key] = value;
}
