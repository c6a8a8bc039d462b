import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/state/memory.js';

/** Entries of every shape the audit log writes: ASCII, non-ASCII (2-, 3- and 4-byte UTF-8), sizes from 0 bytes to several segments. */
function entry(i: number): string {
  const kinds = [`{"seq":${i},"ascii":"${'x'.repeat(i % 700)}"}`, `{"seq":${i},"text":"é—${'ü'.repeat(i % 300)}"}`, `{"seq":${i},"emoji":"${'🙂'.repeat(i % 50)}"}`, ''];
  return kinds[i % kinds.length] as string;
}

describe('MemoryStore logs (held off the JS heap)', () => {
  it('reads back every entry byte-identical, across segment boundaries, in any window', async () => {
    const store = new MemoryStore();
    const all = Array.from({ length: 3000 }, (_, i) => entry(i));
    // Appended in batches of varying size, as the audit log writes them.
    for (let at = 0, n = 1; at < all.length; at += n, n = (n * 7) % 97 + 1) {
      const batch = all.slice(at, at + n);
      expect(await store.append('acme', 'audit', at, batch)).toEqual({ ok: true, length: at + batch.length });
    }
    expect(await store.length('acme', 'audit')).toBe(3000);
    expect((await store.read('acme', 'audit', 1, 5000)).map((e) => e.value)).toEqual(all);
    for (const [from, count] of [[1, 1], [17, 400], [1999, 3], [2990, 50], [3001, 10]] as const) {
      expect(await store.read('acme', 'audit', from, count)).toEqual(all.slice(from - 1, from - 1 + count).map((value, k) => ({ seq: from + k, value })));
    }
  });

  it('byte entries read back exactly: views back to back in one buffer (copied as runs), across segment ends, with gaps, mixed with text', async () => {
    const store = new MemoryStore();
    const all = Array.from({ length: 3000 }, (_, i) => entry(i));
    for (let at = 0, n = 1; at < all.length; at += n, n = (n * 7) % 97 + 1) {
      const batch = all.slice(at, at + n);
      // One buffer per batch, as chainBatch writes it; batches starting at a multiple of 5 leave a byte between
      // entries (not back to back), and every 7th entry goes as text.
      const gap = at % 5 === 0 ? 1 : 0;
      const encoded = batch.map((t) => Buffer.from(t, 'utf8'));
      const bytes = Buffer.concat(encoded.flatMap((b) => [b, Buffer.alloc(gap)]));
      let offset = 0;
      const values = encoded.map((b, k) => {
        const view = bytes.subarray(offset, offset + b.length);
        offset += b.length + gap;
        return (at + k) % 7 === 0 ? (batch[k] as string) : view;
      });
      expect(await store.append('acme', 'audit', at, values)).toEqual({ ok: true, length: at + batch.length });
      bytes.fill(0x21); // the store copied what it took: reusing the buffer changes nothing held
    }
    expect((await store.read('acme', 'audit', 1, 5000)).map((e) => e.value)).toEqual(all);
  });

  it('holds an entry larger than a segment', async () => {
    const store = new MemoryStore();
    const big = `{"blob":"${'é'.repeat(3 * 1024 * 1024)}"}`;
    await store.append('acme', 'audit', 0, ['first', big, 'last']);
    expect((await store.read('acme', 'audit', 1, 3)).map((e) => e.value)).toEqual(['first', big, 'last']);
  });

  it('holds exactly the newest maxLogEntries entries; sequence numbers go on', async () => {
    const store = new MemoryStore(250);
    const all = Array.from({ length: 2000 }, (_, i) => entry(i));
    for (let at = 0; at < all.length; at += 64) await store.append('acme', 'audit', at, all.slice(at, at + 64));
    expect(await store.length('acme', 'audit')).toBe(2000);
    expect(await store.oldestHeld('acme', 'audit')).toBe(1751);
    const held = await store.read('acme', 'audit', 1, 5000);
    expect(held.map((e) => e.seq)).toEqual(Array.from({ length: 250 }, (_, i) => 1751 + i));
    expect(held.map((e) => e.value)).toEqual(all.slice(1750));
    // A window that starts before what is held returns what is held of it.
    expect((await store.read('acme', 'audit', 1700, 60)).map((e) => e.seq)).toEqual(Array.from({ length: 9 }, (_, i) => 1751 + i));
  });

  it('keeps each tenant and log apart, and refuses an append at the wrong position', async () => {
    const store = new MemoryStore();
    await store.append('acme', 'audit', 0, ['a1', 'a2']);
    await store.append('globex', 'audit', 0, ['g1']);
    await store.append('acme', 'other', 0, ['o1']);
    expect(await store.append('acme', 'audit', 1, ['late'])).toEqual({ ok: false, length: 2 });
    expect((await store.read('acme', 'audit', 1, 10)).map((e) => e.value)).toEqual(['a1', 'a2']);
    expect((await store.read('globex', 'audit', 1, 10)).map((e) => e.value)).toEqual(['g1']);
    expect((await store.read('acme', 'other', 1, 10)).map((e) => e.value)).toEqual(['o1']);
  });
});
