/**
 * Server-sent events (the WHATWG `text/event-stream` format), as MCP streamable HTTP, model
 * streaming APIs and A2A `message/stream` use them. Pure.
 */

export interface SseEvent {
  /** `event:` field; absent means "message". */
  readonly event?: string;
  /** `data:` lines joined with '\n'. */
  readonly data: string;
  readonly id?: string;
}

/** Parses the text of one event (its lines, with or without the terminating blank line). */
export function parseSseEvent(text: string): SseEvent | undefined {
  let event: string | undefined;
  let id: string | undefined;
  const data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') id = value;
  }
  if (data.length === 0 && event === undefined) return undefined;
  return { ...(event !== undefined ? { event } : {}), data: data.join('\n'), ...(id !== undefined ? { id } : {}) };
}

/** Serialises an event; every data line gets its own `data:` field, ended by a blank line. */
export function formatSseEvent(e: SseEvent): string {
  let out = '';
  if (e.event !== undefined) out += `event: ${e.event}\n`;
  if (e.id !== undefined) out += `id: ${e.id}\n`;
  for (const line of e.data.split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}

/** Splits a whole event-stream body into event texts (each with its line ends), keeping everything. */
export function splitSseEvents(body: string): string[] {
  const out: string[] = [];
  const re = /(?:\r\n|\r|\n)(?:\r\n|\r|\n)/g;
  let start = 0;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) {
    out.push(body.slice(start, m.index + m[0].length));
    start = m.index + m[0].length;
  }
  if (start < body.length) out.push(body.slice(start));
  return out;
}

export function isEventStream(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*text\/event-stream\b/i.test(contentType);
}

export function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && /\bjson\b/i.test(contentType);
}
