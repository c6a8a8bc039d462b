/**
 * A token bucket: up to `burst` events at once, refilled at `perSecond`. Bounds what a peer
 * may make us do for nothing (reset streams, empty frames) without limiting honest traffic.
 */
export class Budget {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.tokens = burst;
  }

  /** Spends one token; false when none is left. */
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
