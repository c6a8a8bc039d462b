import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { chainBatch, type ChainResult, type EncodedEvent } from './record.js';

/** Joins batches to a chain (chainBatch), here or elsewhere; the result is the same either way. */
export interface Chainer {
  chain(items: readonly EncodedEvent[], seq: number, prevHash: string, now: number): ChainResult | Promise<ChainResult>;
  close(): Promise<void>;
}

/** On the calling thread. */
export const INLINE_CHAINER: Chainer = { chain: chainBatch, close: () => Promise.resolve() };

export interface ChainRequest {
  readonly id: number;
  readonly items: readonly EncodedEvent[];
  readonly seq: number;
  readonly prevHash: string;
  readonly now: number;
}
export type ChainReply = { readonly id: number; readonly result: ChainResult } | { readonly id: number; readonly error: string };

/**
 * Building the stored texts and hashing them on a worker thread, so that at high decision
 * rates that work (and its garbage) is on the other core rather than between Checks. The main
 * thread posts encoded events (flat strings: cheap to copy; nested rows cost more to post
 * than to encode) and gets the stored texts back; ordering, compare-and-append and
 * the store stay with the AuditLog. The worker starts on first use and does not keep the
 * process alive. If it cannot start or dies, batches are chained inline from then on (logged
 * once): nothing is lost and the records are identical.
 *
 * Opt-in (`audit.worker: true`): posting a batch and taking its texts back measured more
 * main-thread CPU per record than chaining inline (39.0 against 37.6 µs per Check over gRPC,
 * one process at saturation), so inline is the default.
 */
export class WorkerChainer implements Chainer {
  private worker: Worker | undefined;
  private failed = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { request: ChainRequest; resolve: (r: ChainResult) => void; reject: (err: Error) => void }>();

  constructor(private readonly log?: Logger) {}

  chain(items: readonly EncodedEvent[], seq: number, prevHash: string, now: number): ChainResult | Promise<ChainResult> {
    const worker = this.failed ? undefined : (this.worker ?? this.start());
    if (worker === undefined) return chainBatch(items, seq, prevHash, now);
    const request: ChainRequest = { id: this.nextId++, items, seq, prevHash, now };
    return new Promise<ChainResult>((resolve, reject) => {
      this.waiting.set(request.id, { request, resolve, reject });
      worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failed = true; // anything after close is chained inline
    this.settleInline();
    if (w !== undefined) await w.terminate();
  }

  private start(): Worker | undefined {
    try {
      const w = spawnChainWorker();
      w.unref();
      w.on('message', (reply: ChainReply) => {
        const waiter = this.waiting.get(reply.id);
        if (waiter === undefined) return;
        this.waiting.delete(reply.id);
        // An item the chain cannot take fails its batch here as it would inline; the worker is fine.
        if ('result' in reply) waiter.resolve(reply.result);
        else waiter.reject(new Error(reply.error));
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (this.worker === w) this.fail(new Error(`the audit chain worker exited with code ${code}`));
      });
      this.worker = w;
      return w;
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return undefined;
    }
  }

  private fail(err: Error): void {
    if (!this.failed) this.log?.error({ err: err.message }, 'audit chain worker failed; chaining audit records on the main thread from now on');
    this.failed = true;
    const w = this.worker;
    this.worker = undefined;
    void w?.terminate();
    this.settleInline();
  }

  /** Answers every waiting batch here (in request order, as the worker would have). */
  private settleInline(): void {
    const waiting = [...this.waiting.values()].sort((a, b) => a.request.id - b.request.id);
    this.waiting.clear();
    for (const { request: r, resolve, reject } of waiting) {
      try {
        resolve(chainBatch(r.items, r.seq, r.prevHash, r.now));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

/**
 * The built worker (dist/audit/chain-worker.js) next to this module; when running from the
 * TypeScript sources (tests, tsx), the .ts entry through tsx's loader, a dev dependency.
 */
function spawnChainWorker(): Worker {
  // The worker needs none of this process's Node flags (some, like --input-type, would stop it).
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./chain-worker.js', import.meta.url), { execArgv: [] });
  const entry = new URL('./chain-worker.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`, { eval: true, execArgv: [] });
}
