import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emitDecisionRow, rawDecisionRow } from '../../src/audit/decision-row.js';
import { EntryValueError, type EntryValue } from '../../src/audit/entry-codec.js';
import { RingReader, ringBuffer, RingWriter } from '../../src/audit/ring.js';
import { HOOKS, type DecisionContext } from '../../src/context/types.js';
import type { Decision } from '../../src/policy/decision.js';

/** The first place where `a` and `b` differ under Object.is (so -0 ≠ 0, NaN = NaN), or undefined. */
function difference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return `${path}: ${String(a)} vs ${String(b)}`;
    if (a.length !== b.length) return `${path}.length: ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      if (!(i in a) || !(i in b)) return `${path}[${i}]: a hole`;
      const d = difference(a[i], b[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : `${path}: ${typeof a === 'string' ? JSON.stringify(a.slice(0, 40)) : String(a)} vs ${typeof b === 'string' ? JSON.stringify(b.slice(0, 40)) : String(b)}`;
}

/** Everything published and not yet read, in order. */
function drain(reader: RingReader): EntryValue[] {
  const out: EntryValue[] = [];
  for (let e = reader.next(); e !== undefined; e = reader.next()) out.push(e.value);
  return out;
}

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const ringString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: codeUnit, maxLength: 20 }) },
  { weight: 2, arbitrary: fc.constantFrom('', 'acme', 'policy-a', '\ud800', '\udfff', 'a\ud83dz', '\ud83d\ude00') },
  // Longer than one fromCharCode chunk (4096 units) on the reader's side.
  { weight: 1, arbitrary: fc.tuple(fc.string({ unit: codeUnit, minLength: 1, maxLength: 7 }), fc.integer({ min: 4097, max: 9000 })).map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n)) },
);
const ringNumber = fc.oneof(fc.double(), fc.constantFrom(-0, 0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 2), fc.integer());
const { value: ringValue } = fc.letrec<{ value: EntryValue; list: EntryValue[] }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constantFrom(undefined, null, true, false), ringNumber, ringString, tie('list')),
  list: fc.array(tie('value'), { maxLength: 6 }),
}));

describe('audit ring', () => {
  it('gives back any sequence of entries exactly, in order, each also written twice in a row (the same-string path) (property)', () => {
    const buffer = ringBuffer(4 * 1024 * 1024);
    const writer = new RingWriter(buffer);
    const reader = new RingReader(buffer);
    fc.assert(
      fc.property(fc.array(ringValue, { maxLength: 12 }), (entries) => {
        const written = entries.flatMap((e) => [e, e]);
        for (const e of written) expect(writer.write(e)).toBe(true);
        writer.publish();
        const read = drain(reader);
        expect(read).toHaveLength(written.length);
        expect(difference(read, written)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('keeps -0, NaN, ±Infinity, lone surrogates, empty and long strings, and nested undefined as they are', () => {
    const buffer = ringBuffer(64 * 1024);
    const writer = new RingWriter(buffer);
    const reader = new RingReader(buffer);
    const long = 'ab\ud800'.repeat(1500); // 4500 units
    const entry: EntryValue = [-0, NaN, Infinity, -Infinity, '', '\udc00', long, [undefined, [null, [true, false, []]]], undefined];
    expect(writer.write(entry)).toBe(true);
    expect(writer.write(entry)).toBe(true);
    writer.publish();
    const [first, second] = drain(reader) as [EntryValue[], EntryValue[]];
    for (const got of [first, second]) {
      expect(Object.is(got[0], -0)).toBe(true);
      expect(Number.isNaN(got[1])).toBe(true);
      expect(got.slice(2, 7)).toEqual([Infinity, -Infinity, '', '\udc00', long]);
      expect(got[7]).toStrictEqual([undefined, [null, [true, false, []]]]);
      expect(got).toHaveLength(9);
      expect(8 in got && got[8] === undefined).toBe(true);
    }
    expect(reader.next()).toBeUndefined();
  });

  it('shows entries to the reader only once they are published', () => {
    const buffer = ringBuffer(0);
    const writer = new RingWriter(buffer);
    const reader = new RingReader(buffer);
    expect(writer.write(['acme', 1])).toBe(true);
    expect(writer.write(['acme', 2])).toBe(true);
    expect(reader.next()).toBeUndefined();
    writer.publish();
    expect(writer.write(['acme', 3])).toBe(true);
    expect(drain(reader)).toEqual([['acme', 1], ['acme', 2]]);
    expect(reader.next()).toBeUndefined();
    writer.publish();
    expect(drain(reader)).toEqual([['acme', 3]]);
  });

  it('refuses an entry while the ring is full and takes it once the reader has read; several laps of a small ring stay exact', () => {
    const buffer = ringBuffer(0); // the minimum: 1024 units
    expect(buffer.byteLength).toBe(16 + 1024 * 2);
    const writer = new RingWriter(buffer);
    const reader = new RingReader(buffer);
    // A bare string of 95 units takes 3 + 95 units behind its 2-unit length: 100 units.
    const entry = (i: number): string => `${String(i).padStart(6, '0')}${'x'.repeat(89)}`;
    let written = 0;
    while (writer.write(entry(written))) written++;
    expect(written).toBe(10);
    expect(writer.write(entry(written))).toBe(false); // asking again changes nothing
    writer.publish();
    // One unit is always left free and the next entry needs 100 at the front: it fits once two are read.
    expect(reader.next()).toEqual({ value: entry(0) });
    expect(writer.write(entry(10))).toBe(false);
    expect(reader.next()).toEqual({ value: entry(1) });
    expect(writer.write(entry(10))).toBe(true);
    writer.publish();
    expect(drain(reader)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10].map(entry));

    // Interleaved, entries of varying size (with strings repeated from the entry before), over many laps.
    const rand = fc.sample(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 200 }), fc.boolean()), { numRuns: 2000, seed: 42 });
    const queue: EntryValue[] = [];
    let units = 0;
    let refused = 0;
    let i = 0;
    let lastSize = -1;
    for (const [tag, size, readNow] of rand) {
      const e: EntryValue = [`tag-${tag}`, i, 'y'.repeat(size), [`tag-${tag}`, size % 2 === 0]];
      if (writer.write(e)) {
        queue.push(e);
        // At least: length, array, tag string, number, nested array, tag string, boolean; the long string when it changed.
        units += 2 + 3 + 1 + 5 + 3 + 1 + 1 + (size === lastSize ? 1 : 3 + size);
        lastSize = size;
        i++;
      } else refused++;
      writer.publish();
      if (readNow || refused > 0) {
        const got = reader.next();
        if (queue.length === 0) expect(got).toBeUndefined();
        else expect(got).toEqual({ value: queue.shift() });
      }
    }
    expect(drain(reader)).toEqual(queue);
    expect(refused).toBeGreaterThan(0);
    expect(units).toBeGreaterThan(20 * 1024); // well over several laps
  });

  it('throws EntryValueError for a function, an object, a symbol or a bigint, writes nothing of it, and goes on as before', () => {
    const buffer = ringBuffer(0);
    const writer = new RingWriter(buffer);
    const reader = new RingReader(buffer);
    expect(writer.write(['acme', 'policy-a', 1])).toBe(true);
    writer.publish();
    const bad = [['acme', 'policy-b', () => 1], ['acme', { a: 1 }], [Symbol('s')], ['other', 2n], { length: 0 }];
    for (const b of bad) expect(() => writer.write(b as unknown as EntryValue)).toThrow(EntryValueError);
    writer.publish();
    expect(drain(reader)).toEqual([['acme', 'policy-a', 1]]);
    // The same strings as the last good entry (sent as "same as before"), then different ones.
    expect(writer.write(['acme', 'policy-a', 2])).toBe(true);
    expect(writer.write(['acme', 'policy-b', 3])).toBe(true);
    writer.publish();
    expect(drain(reader)).toEqual([
      ['acme', 'policy-a', 2],
      ['acme', 'policy-b', 3],
    ]);
  });

  it('a reader started on a ring with unread entries (after one died) skips those naming strings it never saw, then reads on', () => {
    const buffer = ringBuffer(0);
    const writer = new RingWriter(buffer);
    const first = new RingReader(buffer);
    writer.write(['t', 'a', 1]);
    writer.write(['t', 'b', 2]); // 't' as "same as before"
    writer.write(['u', 'x', 3]); // nothing repeated
    writer.write(['u', 'y', 4]); // 'u' as "same as before"
    writer.write(['t', 'y', 5]); // 'y' as "same as before"
    writer.publish();
    expect(first.next()).toEqual({ value: ['t', 'a', 1] });

    const second = new RingReader(buffer);
    expect(() => second.next()).toThrow(EntryValueError); // ['t','b',2] names entry 1's 't'
    expect(second.next()).toEqual({ value: ['u', 'x', 3] });
    expect(second.next()).toEqual({ value: ['u', 'y', 4] });
    expect(second.next()).toEqual({ value: ['t', 'y', 5] });
    expect(second.next()).toBeUndefined();

    // The writer's next entry sees the resync flag and names no earlier one.
    writer.write(['t', 'y', 6]);
    writer.write(['t', 'y', 7]);
    writer.publish();
    expect(drain(second)).toEqual([
      ['t', 'y', 6],
      ['t', 'y', 7],
    ]);
  });

  it('an unreadable entry makes the next one naming its strings unreadable too, until the writer resyncs', () => {
    const buffer = ringBuffer(0);
    const writer = new RingWriter(buffer);
    const first = new RingReader(buffer);
    writer.write(['t', 1]);
    writer.write(['t', 2]);
    writer.write(['t', 3]);
    writer.publish();
    expect(first.next()).toEqual({ value: ['t', 1] });
    const second = new RingReader(buffer);
    expect(() => second.next()).toThrow(EntryValueError);
    expect(() => second.next()).toThrow(EntryValueError); // names entry 2's 't', which was not read either
    expect(second.next()).toBeUndefined();
    writer.write(['t', 4]);
    writer.publish();
    expect(drain(second)).toEqual([['t', 4]]);
  });

  it('a reader started after its predecessor read everything reads the writer’s next entries, even ones repeating the last entry’s strings', () => {
    const buffer = ringBuffer(0);
    const writer = new RingWriter(buffer);
    const first = new RingReader(buffer);
    writer.write(['acme', 'agent-1', 1]);
    writer.publish();
    expect(drain(first)).toEqual([['acme', 'agent-1', 1]]);
    // The audit thread died with nothing unread and was started again on the same ring.
    const second = new RingReader(buffer);
    writer.write(['acme', 'agent-1', 2]);
    writer.write(['acme', 'agent-1', 3]);
    writer.publish();
    const got: unknown[] = [];
    for (;;) {
      try {
        const e = second.next();
        if (e === undefined) break;
        got.push(e.value);
      } catch (err) {
        got.push((err as Error).message);
      }
    }
    expect(got).toEqual([
      ['acme', 'agent-1', 2],
      ['acme', 'agent-1', 3],
    ]);
  });

  it('waitForMore resolves at once when something unread is published, and after the timeout when nothing is', async () => {
    const buffer = ringBuffer(0);
    const header = new Int32Array(buffer, 0, 4);
    const writer = new RingWriter(buffer);
    const reader = new RingReader(buffer);

    writer.write('pending'); // written, not published: nothing to wake for
    const started = performance.now();
    await reader.waitForMore(20);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    expect(header[2]).toBe(0); // no longer marked sleeping

    writer.publish();
    const first = await Promise.race([reader.waitForMore(60_000).then(() => 'resolved'), new Promise((r) => setImmediate(() => r('still waiting')))]);
    expect(first).toBe('resolved');
    expect(header[2]).toBe(0);
    expect(drain(reader)).toEqual(['pending']);
  });

  it('publish(true) wakes a reader waiting in waitForMore', { timeout: 2000 }, async () => {
    const buffer = ringBuffer(0);
    const writer = new RingWriter(buffer);
    const reader = new RingReader(buffer);
    const waiting = reader.waitForMore(60_000);
    writer.write(['acme', 1]);
    writer.publish(true);
    await waiting; // without the wake this would outlast the test's 2 s
    expect(drain(reader)).toEqual([['acme', 1]]);
  });

  it('a decision written straight into the ring (emitDecisionRow) reads back as rawDecisionRow builds it, row after row (property)', () => {
    const text = fc.constantFrom('', 'a', 'bb', '\ud800', 'x'.repeat(30));
    const ctx = fc.record(
      {
        hook: fc.constantFrom(...HOOKS),
        tenant: fc.constantFrom('acme', 'globex', 'bad tenant!'),
        namespace: text,
        agent: fc.record({ id: text, name: text, framework: text }, { requiredKeys: [] }),
        destination: fc.record({ host: text, port: fc.integer({ min: 0, max: 65535 }), scheme: text, sni: text, address: text }, { requiredKeys: [] }),
        request: fc.record({ method: text, path: fc.constantFrom('/a', '/a?token=x', '') }, { requiredKeys: [] }),
        tool: fc.record({ name: text, server: text, sideEffect: text }, { requiredKeys: [] }),
        model: fc.record({ provider: text, name: text }, { requiredKeys: [] }),
        mcp: fc.record({ server: text, method: text, direction: fc.constantFrom('outbound' as const, 'inbound' as const) }, { requiredKeys: [] }),
        session: fc.record({ id: text }),
        turnId: text,
      },
      { requiredKeys: ['hook'] },
    );
    const finding = fc.record({ class: fc.constantFrom('secret', 'pii'), detector: text, start: fc.nat(99), end: fc.nat(99), path: text, policyId: text, ruleId: text, score: fc.double({ min: 0, max: 1 }), type: text });
    const decision = fc.record({
      decision: fc.constantFrom<Decision['decision']>('allow', 'deny', 'modify'),
      decisionId: text,
      reason: text,
      matched: fc.array(fc.record({ effect: fc.constantFrom('allow', 'deny'), policyId: text, policyNamespace: text, policyVersion: text, ruleId: text }), { maxLength: 3 }),
      findings: fc.option(fc.record({ listed: fc.array(finding, { maxLength: 2 }), types: fc.array(fc.record({ class: text, count: fc.nat(9), score: fc.double({ min: 0, max: 1 }), type: text }), { maxLength: 2 }) }), { nil: undefined }),
      modifiedRequest: fc.option(fc.record({ headers: fc.record({ set: fc.dictionary(text, text), remove: fc.array(text, { maxLength: 2 }) }, { requiredKeys: [] }), payload: fc.option(fc.constant('{}'), { nil: undefined }) }, { requiredKeys: [] }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(decision, fc.option(ctx, { nil: undefined })), { minLength: 1, maxLength: 8 }), (steps) => {
        const sab = ringBuffer(1 << 20);
        const writer = new RingWriter(sab);
        const reader = new RingReader(sab);
        for (const [d, c] of steps) {
          writer.begin();
          const tenant = emitDecisionRow(writer, d as unknown as Decision, c as DecisionContext | undefined, 'authz_http', 7, 'default');
          expect(writer.commit()).toBe(true);
          writer.publish();
          const expected = rawDecisionRow(d as unknown as Decision, c as DecisionContext | undefined, 'authz_http', 7, 'default');
          expect(tenant).toBe(expected[1]);
          expect(difference(drain(reader), [expected])).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });
});

