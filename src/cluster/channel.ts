import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { EventEmitter } from 'node:events';
import type { ConfigInput } from '../config.js';
import type { Edge } from './balancer.js';

/**
 * The IPC between `serve --workers N`'s primary process and its workers (node:cluster with the
 * `advanced` serialisation, so rows keep their `undefined` members). Every message is one of
 * these; anything else is ignored by both sides.
 */
export type StoreOp = 'get' | 'put' | 'remove' | 'list' | 'append' | 'read' | 'length' | 'setExpiring' | 'getExpiring' | 'takeExpiring' | 'listExpiring' | 'publish';
export const STORE_OPS: ReadonlySet<string> = new Set<StoreOp>(['get', 'put', 'remove', 'list', 'append', 'read', 'length', 'setExpiring', 'getExpiring', 'takeExpiring', 'listExpiring', 'publish']);

export type ToPrimary =
  /** The worker listens now (messages sent before that would be lost): send it `start`. */
  | { readonly t: 'hello' }
  /** A call on the primary's store; answered by `reply` with the same id. */
  | { readonly t: 'store'; readonly id: number; readonly op: StoreOp; readonly args: readonly unknown[] }
  | { readonly t: 'subscribe'; readonly id: number; readonly tenant: string; readonly topic: string }
  | { readonly t: 'unsubscribe'; readonly id: number; readonly sub: number }
  /** Serving: the primary may hand it connections. */
  | { readonly t: 'ready' }
  /** A connection the primary handed over has closed (ConnectionBalancer counts them). */
  | { readonly t: 'closed' }
  | { readonly t: 'failed'; readonly error: string }
  | { readonly t: 'metrics'; readonly id: number; readonly metrics: readonly MetricObjectWithValues<MetricValue<string>>[] };

export type ToWorker =
  /** The config layers (file, environment, flags) the worker resolves as the primary did. */
  | { readonly t: 'start'; readonly layers: readonly ConfigInput[] }
  | { readonly t: 'reply'; readonly id: number; readonly value?: unknown; readonly error?: { readonly code: string; readonly message: string; readonly hint?: string } }
  | { readonly t: 'published'; readonly sub: number; readonly message: string }
  | { readonly t: 'metrics'; readonly id: number }
  /** A new connection on a shared port, sent with its (paused) socket. */
  | { readonly t: 'conn'; readonly edge: Edge }
  /** Stop accepting, finish in-flight calls, hand over the audit records, exit 0. */
  | { readonly t: 'shutdown' };

/** One end of the IPC: node:cluster's worker or process objects, or an in-process pair in tests. */
export interface Channel<In, Out> {
  /** Never throws: false when the other side is gone (the message is dropped and `sent` still called). */
  send(message: Out, sent?: () => void): boolean;
  /** Returns a function that stops listening. */
  onMessage(handler: (message: In) => void): () => void;
}

/** Whether `m` is an object with a string `t` (the only shape either side acts on). */
export function isMessage(m: unknown): m is { t: string } {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

/**
 * A channel over one end of node's IPC (a cluster worker object in the primary, `process` in a
 * worker): `connected` says whether the other side is still there, `send` posts (its result
 * only says whether a backlog built up, so it is not a failure), messages arrive as
 * 'message' events of `events`.
 */
export function ipcChannel<In, Out>(end: { connected(): boolean; send(message: Out, sent: () => void): void; events: EventEmitter }): Channel<In, Out> {
  return {
    send: (message, sent) => {
      if (!end.connected()) {
        sent?.();
        return false;
      }
      end.send(message, () => sent?.());
      return true;
    },
    onMessage: (handler) => {
      const listener = (m: unknown): void => handler(m as In);
      end.events.on('message', listener);
      return () => end.events.off('message', listener);
    },
  };
}
