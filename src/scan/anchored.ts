import type { Finding } from './types.js';

/**
 * A scanner whose own loop (a sticky anchor regex over the lower-cased text, then a report at
 * the anchor's end) is driven by someone else's pass (word-pass.ts): `at` is called with word
 * starts in increasing order, a superset of where an anchor starts, and does what the loop does
 * there, skipping the places the loop's regex would have stepped over.
 */
export class AnchoredScanner {
  private next = 0;

  constructor(
    /** Sticky (`y`): tested at exactly the word start. */
    private readonly anchor: RegExp,
    /** Reports what starts at `start` (the anchor's end), if anything, and returns where it ends. */
    private readonly report: (text: string, start: number, out: Finding[]) => number | undefined,
    private readonly text: string,
    private readonly lower: string,
    readonly out: Finding[],
  ) {}

  at(p: number): void {
    if (p < this.next) return;
    this.anchor.lastIndex = p;
    if (!this.anchor.test(this.lower)) return;
    this.next = this.report(this.text, this.anchor.lastIndex, this.out) ?? this.anchor.lastIndex;
  }
}
