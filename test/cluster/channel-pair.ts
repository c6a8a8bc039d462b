import type { Channel } from '../../src/cluster/channel.js';

/**
 * Two ends of an in-process IPC channel that behaves like node:cluster's with the advanced
 * serialisation: every message is structured-cloned and arrives on a later turn, in order.
 */
export function channelPair<A, B>(): [Channel<B, A>, Channel<A, B>] {
  const handlers: [Set<(m: unknown) => void>, Set<(m: unknown) => void>] = [new Set(), new Set()];
  const end = <In, Out>(mine: 0 | 1): Channel<In, Out> => ({
    send: (message, sent) => {
      const copy = structuredClone(message);
      setImmediate(() => {
        for (const h of handlers[mine === 0 ? 1 : 0]) h(copy);
        sent?.();
      });
      return true;
    },
    onMessage: (handler) => {
      const h = handler as (m: unknown) => void;
      handlers[mine].add(h);
      return () => handlers[mine].delete(h);
    },
  });
  return [end<B, A>(0), end<A, B>(1)];
}
