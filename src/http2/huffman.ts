import { HpackError } from './hpack-error.js';

/**
 * The HPACK Huffman code (RFC 7541 Appendix B): `HUFFMAN_CODES[sym]` holds the code of symbol
 * `sym` in its low `HUFFMAN_BITS[sym]` bits; symbol 256 is EOS. Decoding only: our encoder
 * sends literals as plain octets.
 */
export const EOS = 256;

export const HUFFMAN_CODES: readonly number[] = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
  0x3fffffff,
];

export const HUFFMAN_BITS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

// The decoder is a state machine over the code tree, one input byte per step. States are the
// tree's internal nodes (257 leaves make 256 of them; 0 is the root). For each state and byte,
// TRANSITIONS holds the next state, the symbols completed on the way (at most two: codes are
// at least 5 bits long), and whether EOS was reached: 65,536 entries, 256 KiB.
const FAIL = 1 << 26;
const COUNT_SHIFT = 24;

/** child[2 * node + bit]: an internal node (> 0), a leaf as ~symbol (< 0), or 0 when unset. */
function buildTree(): Int16Array {
  const child = new Int16Array(512);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let bit = HUFFMAN_BITS[sym]! - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (child[slot] === 0) child[slot] = nodes++;
      node = child[slot]!;
      if (node < 0) throw new Error(`Huffman table: the code of symbol ${sym} extends the code of symbol ${~node}`);
    }
    const slot = 2 * node + (code & 1);
    if (child[slot] !== 0) throw new Error(`Huffman table: the code of symbol ${sym} is a prefix of another code`);
    child[slot] = ~sym;
  }
  // A hole would silently restart decoding at the root; the RFC code is complete, so there is none.
  if (nodes !== 256 || child.indexOf(0) !== -1) throw new Error('Huffman table: the code is not complete');
  return child;
}

/** TRANSITIONS[state << 8 | byte]: next state | symbol count << 24 | symbols << 8, or FAIL. */
function buildTransitions(tree: Int16Array): Int32Array {
  const transitions = new Int32Array(256 * 256);
  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let entry = 0;
      let count = 0;
      for (let bit = 7; bit >= 0; bit--) {
        const next = tree[2 * node + ((byte >>> bit) & 1)]!;
        if (next > 0) {
          node = next;
        } else if (~next === EOS) {
          entry = FAIL;
          break;
        } else {
          entry |= ~next << (8 + 8 * count++);
          node = 0;
        }
      }
      transitions[(state << 8) | byte] = entry === FAIL ? FAIL : entry | (count << COUNT_SHIFT) | node;
    }
  }
  return transitions;
}

// Where a string may end (RFC 7541 §5.2): after whole symbols plus at most 7 bits of padding,
// which must be the most significant bits of EOS (all ones). Those states are the first 8 nodes
// on the all-ones path from the root; deeper ones mean padding longer than 7 bits.
const END_OK = 0;
const END_LONG_PADDING = 1;
const END_BAD_PADDING = 2;

function buildEndStates(tree: Int16Array): Uint8Array {
  const endStates = new Uint8Array(256).fill(END_BAD_PADDING);
  for (let node = 0, depth = 0; node >= 0; node = tree[2 * node + 1]!, depth++) {
    endStates[node] = depth <= 7 ? END_OK : END_LONG_PADDING;
  }
  return endStates;
}

// Built by functions, which V8 optimizes (module-level loops ran twice as long): ~5 ms at load.
const TREE = buildTree();
const TRANSITIONS = buildTransitions(TREE);
const END_STATE = buildEndStates(TREE);

// Output goes through a shared buffer; a string has at most 8/5 symbols per input byte.
const MAX_SCRATCH = 64 * 1024;
let scratch = Buffer.allocUnsafe(1024);

/**
 * Decodes the Huffman-coded string in `buf[start, end)` to a string with one char per octet
 * (latin1). Throws HpackError, with the byte offset in `buf`, on EOS or invalid padding.
 */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  const need = Math.floor(((end - start) * 8) / 5);
  let out = scratch;
  if (need > out.length) {
    out = Buffer.allocUnsafe(need);
    if (need <= MAX_SCRATCH) scratch = out;
  }
  let state = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const t = TRANSITIONS[(state << 8) | buf[i]!]!;
    if (t >= FAIL) throw new HpackError(`Huffman-coded string at byte ${start} contains the EOS symbol (in byte ${i})`);
    if (t >= 1 << COUNT_SHIFT) {
      out[n++] = (t >>> 8) & 0xff;
      if (t >= 2 << COUNT_SHIFT) out[n++] = (t >>> 16) & 0xff;
    }
    state = t & 0xff;
  }
  const endState = END_STATE[state];
  if (endState === END_LONG_PADDING) {
    throw new HpackError(`Huffman-coded string at byte ${start} ends with more than 7 bits of padding (at byte ${end - 1})`);
  }
  if (endState === END_BAD_PADDING) {
    throw new HpackError(`Huffman-coded string at byte ${start} ends with padding that is not a prefix of EOS (at byte ${end - 1})`);
  }
  return out.toString('latin1', 0, n);
}
