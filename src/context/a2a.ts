import type { JsonRpcMessage } from './jsonrpc.js';
import { record } from './jsonrpc.js';
import type { DecisionContext } from './types.js';

/** A2A (Agent2Agent) JSON-RPC: one agent sending messages to and managing tasks of another. Pure. */

export const A2A_METHODS: ReadonlySet<string> = new Set([
  'message/send',
  'message/stream',
  'tasks/get',
  'tasks/cancel',
  'tasks/resubscribe',
  'tasks/pushNotificationConfig/set',
  'tasks/pushNotificationConfig/get',
  'tasks/pushNotificationConfig/list',
  'tasks/pushNotificationConfig/delete',
  'agent/getAuthenticatedExtendedCard',
]);

export function isA2aMethod(method: string | undefined): boolean {
  return method !== undefined && A2A_METHODS.has(method);
}

/** The `a2a` context of one message (a request, or an answer/stream event with `direction: inbound`). */
export function a2aContext(base: DecisionContext, peer: string, msg: JsonRpcMessage, direction: 'outbound' | 'inbound', method: string | undefined): DecisionContext {
  const params = record(msg.params);
  const result = record(msg.result);
  const message = record(params?.['message']);
  const taskId = params?.['id'] ?? message?.['taskId'] ?? (result?.['kind'] === 'task' ? result['id'] : result?.['taskId']);
  const contextId = message?.['contextId'] ?? result?.['contextId'];
  return {
    ...base,
    hook: 'a2a',
    a2a: {
      peer,
      direction,
      ...(method !== undefined ? { method } : {}),
      ...(typeof taskId === 'string' ? { taskId } : {}),
      ...(typeof contextId === 'string' ? { contextId } : {}),
    },
    payload: msg,
  };
}
