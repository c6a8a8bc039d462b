import type { Finding } from './types.js';

/**
 * A scanner whose own loop (a sticky anchor regex over the text or its lower-cased copy, then a
 * report at the anchor) is driven by someone else's pass (word-pass.ts): `at` is called with word
 * starts in increasing order, a superset of where an anchor starts, and does what the loop does
 * there, skipping the places the loop's regex would have stepped over.
 */
export class AnchoredScanner {
  private next = 0;

  constructor(
    /** Sticky (`y`): tested at exactly the word start. */
    private readonly anchor: RegExp,
    /** Reports what the anchor (from `anchorStart` to `end`) begins, if anything, and returns where it ends (default: `end`). */
    private readonly report: (text: string, end: number, out: Finding[], anchorStart: number) => number | undefined,
    private readonly text: string,
    /** What the anchor is tested on: the text, or its lower-cased copy (same offsets). */
    private readonly subject: string,
    readonly out: Finding[],
  ) {}

  at(p: number): void {
    if (p < this.next) return;
    this.anchor.lastIndex = p;
    if (!this.anchor.test(this.subject)) return;
    this.next = this.report(this.text, this.anchor.lastIndex, this.out, p) ?? this.anchor.lastIndex;
  }
}
