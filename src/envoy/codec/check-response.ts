import type { CheckResponseMessage, HeaderValueOption, StringStruct } from '../check-response.js';
import * as F from './fields.generated.js';
import { Writer } from '../../grpc/wire.js';

/**
 * Encodes a CheckResponse into `w` (appending). Decodes to the same message as the
 * protobufjs encoding of the same object; proto3 defaults (0, "", false) are left out, where
 * protobufjs writes those it was given explicitly, so the bytes can be a little shorter.
 */
export function encodeCheckResponse(w: Writer, m: CheckResponseMessage): void {
  w.open(F.CheckResponse.status);
  if (m.status.code !== 0) w.uint32(F.Status.code, m.status.code);
  if (m.status.message) w.string(F.Status.message, m.status.message);
  w.close();
  const denied = m.denied_response;
  if (denied !== undefined) {
    w.open(F.CheckResponse.denied_response);
    w.open(F.DeniedHttpResponse.status);
    if (denied.status.code !== 0) w.uint32(F.HttpStatus.code, denied.status.code);
    w.close();
    for (const h of denied.headers) headerOption(w, F.DeniedHttpResponse.headers, h);
    if (denied.body) w.string(F.DeniedHttpResponse.body, denied.body);
    w.close();
  }
  const ok = m.ok_response;
  if (ok !== undefined) {
    w.open(F.CheckResponse.ok_response);
    for (const h of ok.headers) headerOption(w, F.OkHttpResponse.headers, h);
    for (const name of ok.headers_to_remove) w.string(F.OkHttpResponse.headers_to_remove, name);
    for (const h of ok.response_headers_to_add) headerOption(w, F.OkHttpResponse.response_headers_to_add, h);
    w.close();
  }
  struct(w, F.CheckResponse.dynamic_metadata, m.dynamic_metadata);
}

function headerOption(w: Writer, field: number, h: HeaderValueOption): void {
  w.open(field);
  w.open(F.HeaderValueOption.header);
  if (h.header.key) w.string(F.HeaderValue.key, h.header.key);
  if (h.header.value) w.string(F.HeaderValue.value, h.header.value);
  w.close();
  w.open(F.HeaderValueOption.append);
  if (h.append.value) w.bool(F.BoolValue.value, true);
  w.close();
  w.close();
}

function struct(w: Writer, field: number, s: StringStruct): void {
  w.open(field);
  for (const key in s.fields) {
    w.open(F.Struct.fields);
    w.string(1, key); // map entry: key = 1, value = 2
    w.open(2);
    w.string(F.Value.stringValue, s.fields[key]!.stringValue);
    w.close();
    w.close();
  }
  w.close();
}
