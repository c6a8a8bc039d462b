// The chain worker's entry (started by src/audit/chainer.ts): hashes batches off the main thread.
import { parentPort } from 'node:worker_threads';
import { chainBatch } from './record.js';
import type { ChainReply, ChainRequest } from './chainer.js';

const port = parentPort;
if (port === null) throw new Error('chain-worker.ts runs as a worker thread only');
port.on('message', (m: ChainRequest) => {
  let reply: ChainReply;
  try {
    reply = { id: m.id, result: chainBatch(m.items, m.seq, m.prevHash, m.now) };
  } catch (err) {
    reply = { id: m.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
