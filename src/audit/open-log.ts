import type { Store } from '../state/store.js';
import { JsonlFileSink, loadJsonlInto } from './file-sink.js';
import { AuditLog, type AuditLogOptions } from './log.js';

/** What an AuditLog is opened with besides its store (the `audit` settings). */
export interface AuditLogSettings {
  readonly file?: string;
  readonly maxBuffered: number;
  readonly batchSize: number;
}

/**
 * The AuditLog over `store` as the settings ask, in this thread or the audit thread's. With a
 * memory store and an audit folder, the folder's history is loaded first (chains go on across
 * restarts) and records are then written to it as well.
 */
export async function openAuditLog(store: Store, settings: AuditLogSettings, options: Omit<AuditLogOptions, 'store' | 'maxBuffered' | 'batchSize' | 'sink'>): Promise<AuditLog> {
  const file = store.kind === 'memory' ? settings.file : undefined;
  if (file !== undefined) {
    const n = await loadJsonlInto(file, store);
    if (n > 0) options.log?.info({ records: n, folder: file }, 'audit history loaded');
  }
  return new AuditLog({ ...options, store, maxBuffered: settings.maxBuffered, batchSize: settings.batchSize, ...(file !== undefined ? { sink: new JsonlFileSink(file) } : {}) });
}
