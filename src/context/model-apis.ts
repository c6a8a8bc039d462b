import { record } from './jsonrpc.js';

/**
 * Model provider APIs: OpenAI (chat completions, responses; also the many OpenAI-compatible
 * APIs), Anthropic (messages) and Gemini (generateContent, streamGenerateContent), streaming
 * and not. Reads the model, the token usage and the tool calls the model asks for. Pure.
 */

export type ModelApi = 'openai-chat' | 'openai-responses' | 'anthropic-messages' | 'gemini-generate';

export interface ModelUsage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
}

export interface ModelToolCall {
  readonly name: string;
  readonly arguments?: unknown;
}

/** What one response body or stream event says. */
export interface ModelOutput {
  usage?: ModelUsage;
  toolCalls: ModelToolCall[];
  /** Model name the provider reports (may be more specific than the request's). */
  model?: string;
}

/** Which API a request uses, from its path and body (undefined: not a model call we read). */
export function modelApi(provider: string | undefined, path: string): ModelApi | undefined {
  const p = path.split('?')[0] ?? path;
  if (/:(?:stream)?[gG]enerateContent$/.test(p)) return 'gemini-generate';
  if (/\/messages$/.test(p) && provider !== 'openai') return 'anthropic-messages';
  if (/\/responses$/.test(p)) return 'openai-responses';
  if (/\/chat\/completions$/.test(p)) return 'openai-chat';
  return undefined;
}

/** The model a request names: in the body (`model`), or in the path for Gemini. */
export function requestModel(api: ModelApi, path: string, body: unknown): string | undefined {
  if (api === 'gemini-generate') return /\/models\/([^/:]+)/.exec(path.split('?')[0] ?? path)?.[1];
  const m = record(body)?.['model'];
  return typeof m === 'string' ? m : undefined;
}

/** Whether the request asks for a streamed (SSE) answer. */
export function requestStreams(api: ModelApi, path: string, body: unknown): boolean {
  if (api === 'gemini-generate') return /:streamGenerateContent$/.test(path.split('?')[0] ?? path);
  return record(body)?.['stream'] === true;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function usage(input: unknown, output: unknown, total: unknown): ModelUsage | undefined {
  const u: ModelUsage = {};
  const i = num(input);
  const o = num(output);
  const t = num(total) ?? (i !== undefined && o !== undefined ? i + o : undefined);
  if (i !== undefined) u.inputTokens = i;
  if (o !== undefined) u.outputTokens = o;
  if (t !== undefined) u.totalTokens = t;
  return Object.keys(u).length > 0 ? u : undefined;
}

/** Tool arguments arrive as JSON text in OpenAI's APIs; parsed when they are whole JSON. */
function args(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Usage and tool calls from a whole response body or from one stream event's data, for any of
 * the APIs (the shapes do not overlap, so one reader serves them all).
 */
export function readModelOutput(api: ModelApi, value: unknown): ModelOutput {
  const out: ModelOutput = { toolCalls: [] };
  const v = record(value);
  if (v === undefined) return out;
  const setModel = (m: unknown): void => {
    if (typeof m === 'string') out.model = m;
  };
  const push = (name: unknown, a: unknown): void => {
    if (typeof name === 'string' && name !== '') out.toolCalls.push({ name, ...(a !== undefined ? { arguments: args(a) } : {}) });
  };
  switch (api) {
    case 'openai-chat': {
      setModel(v['model']);
      const u = record(v['usage']);
      out.usage = usage(u?.['prompt_tokens'], u?.['completion_tokens'], u?.['total_tokens']);
      for (const c of list(v['choices'])) {
        const msg = record(record(c)?.['message']) ?? record(record(c)?.['delta']);
        for (const tc of list(msg?.['tool_calls'])) {
          const f = record(record(tc)?.['function']);
          push(f?.['name'], f?.['arguments']);
        }
      }
      break;
    }
    case 'openai-responses': {
      // Whole response, or the `response` of response.completed / an output item event.
      const r = record(v['response']) ?? v;
      setModel(r['model']);
      const u = record(r['usage']);
      out.usage = usage(u?.['input_tokens'], u?.['output_tokens'], u?.['total_tokens']);
      const items = [...list(r['output']), ...(record(v['item']) !== undefined ? [v['item']] : [])];
      for (const it of items) {
        const item = record(it);
        if (item?.['type'] === 'function_call') push(item['name'], item['arguments']);
      }
      break;
    }
    case 'anthropic-messages': {
      // Whole message, or stream events message_start / content_block_start / message_delta.
      const m = record(v['message']) ?? v;
      setModel(m['model']);
      const u = record(m['usage']) ?? record(v['usage']);
      out.usage = usage(u?.['input_tokens'], u?.['output_tokens'], undefined);
      const blocks = [...list(m['content']), ...(record(v['content_block']) !== undefined ? [v['content_block']] : [])];
      for (const b of blocks) {
        const block = record(b);
        if (block?.['type'] === 'tool_use') push(block['name'], block['input']);
      }
      break;
    }
    case 'gemini-generate': {
      setModel(v['modelVersion']);
      const u = record(v['usageMetadata']);
      out.usage = usage(u?.['promptTokenCount'], u?.['candidatesTokenCount'], u?.['totalTokenCount']);
      for (const c of list(v['candidates'])) {
        for (const part of list(record(record(c)?.['content'])?.['parts'])) {
          const fc = record(record(part)?.['functionCall']);
          if (fc !== undefined) push(fc['name'], fc['args']);
        }
      }
      break;
    }
  }
  if (out.usage === undefined) delete out.usage;
  return out;
}

/** A refusal in the provider's own error shape, with the HTTP status to send it with. */
export function providerError(api: ModelApi | undefined, status: number, message: string, reason: string): Record<string, unknown> {
  switch (api) {
    case 'anthropic-messages':
      return { type: 'error', error: { type: status === 413 ? 'request_too_large' : 'permission_error', message } };
    case 'gemini-generate':
      return { error: { code: status, message, status: status === 413 ? 'INVALID_ARGUMENT' : 'PERMISSION_DENIED', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'joch.dev' }] } };
    default:
      return { error: { message, type: 'permission_denied', param: null, code: reason } };
  }
}

/** The same refusal as one stream event, in the provider's streaming error form. */
export function providerErrorEvent(api: ModelApi | undefined, message: string, reason: string): string {
  const body = JSON.stringify(providerError(api, 403, message, reason));
  return api === 'anthropic-messages' ? `event: error\ndata: ${body}\n\n` : `data: ${body}\n\n`;
}
