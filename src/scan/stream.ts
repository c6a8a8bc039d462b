import { JochError } from '../errors.js';
import { scanText } from './scan-text.js';
import type { DataClass, Finding, ScanOptions } from './types.js';

export interface StreamScanOptions extends ScanOptions {
  /** Classes to scan for (all when omitted). */
  readonly classes?: ReadonlySet<DataClass>;
  /**
   * Characters of earlier text kept and scanned again with the next piece, so a pattern
   * split across pieces is found (default 256, above the longest phrase rule). Longer
   * matches still in progress are held whole up to MAX_HELD: a match reaching the end of
   * the text so far, or a private-key block whose END has not arrived yet.
   */
  readonly window?: number;
}

const DEFAULT_WINDOW = 256;
/** The most a stream holds back for a match in progress (a 4096-bit RSA key block is about 3.3 KB). */
const MAX_HELD = 8192;
const PEM_FOOTER = /-----END [A-Z0-9 ]{0,64}-----/;
/**
 * A match ending this close to the end of what has arrived may still change: grow, or be
 * judged differently by rules that look ahead (up to 24 characters). It waits for more text.
 */
const SETTLE = 32;

/**
 * Scans text that arrives in pieces, with memory bounded by the window. Each push scans the
 * carried window plus the new piece and reports, with offsets into the whole stream, the
 * findings that start after everything reported so far: each pattern once, as soon as the
 * piece that completes it arrives.
 */
export class StreamScanner {
  private carry = '';
  private carryStart = 0;
  private reportedEnd = 0;
  private readonly window: number;

  constructor(private readonly options: StreamScanOptions = {}) {
    this.window = Math.max(1, options.window ?? DEFAULT_WINDOW);
  }

  /**
   * Findings completed by `piece`, offsets relative to the start of the stream. A match that
   * ends within SETTLE characters of what has arrived may still grow ("bob@example.co" + "m"),
   * so it is reported by a later push or by end().
   */
  push(piece: string): Finding[] {
    return this.scan(this.carry + piece, false);
  }

  /** The end of the stream: whatever was held back. */
  end(): Finding[] {
    const out = this.scan(this.carry, true);
    this.carryStart += this.carry.length;
    this.carry = '';
    return out;
  }

  private scan(text: string, final: boolean): Finding[] {
    const base = this.carryStart;
    const out: Finding[] = [];
    let pendingStart = text.length;
    for (const f of scanText(text, this.options.classes, this.options)) {
      const start = base + f.start;
      if (start < this.reportedEnd) continue;
      if (!final && f.end > text.length - SETTLE) {
        pendingStart = f.start;
        break;
      }
      out.push({ ...f, start, end: base + f.end });
      this.reportedEnd = base + f.end;
    }
    // Keep the window, or further back the start of a match in progress, up to MAX_HELD.
    // lastIndexOf walks back char by char; indexOf of 'BEGIN ' (led by a rare 'B') rules most texts out first.
    const pemOpen = text.indexOf('BEGIN ') === -1 ? -1 : text.lastIndexOf('-----BEGIN ');
    const pemOpenStill = pemOpen !== -1 && !PEM_FOOTER.test(text.slice(pemOpen, pemOpen + MAX_HELD));
    const inProgress = pemOpenStill ? Math.min(pemOpen, pendingStart) : pendingStart;
    const keep = Math.max(0, Math.min(text.length - this.window, Math.max(inProgress, text.length - MAX_HELD)));
    this.carry = text.slice(keep);
    this.carryStart = base + keep;
    return out;
  }

  /** Total characters seen so far. */
  get offset(): number {
    return this.carryStart + this.carry.length;
  }

  /** Characters held between pushes: the window, or up to MAX_HELD while a match is in progress. */
  get retained(): number {
    return this.carry.length;
  }
}

export interface SseEvent {
  /** The `event:` field, when present. */
  readonly event?: string;
  readonly id?: string;
  /** The `data:` lines joined with '\n', as the SSE spec dispatches them. */
  readonly data: string;
  /** What was scanned: the text fields of JSON data, else the data itself. */
  readonly text: string;
}

export interface SseFinding extends Finding {
  /**
   * Index (from 0, over the whole stream) of the event whose arrival reported the finding. A
   * match ending within 32 characters of the text so far is reported with a later event (or by
   * end()), since more text may extend it: a caller that must stop an event before it leaves
   * holds back the events that make up the last 32 characters.
   */
  readonly event: number;
}

export interface SseScanResult {
  /** Events completed by this chunk, in order. */
  readonly events: SseEvent[];
  /** Findings completed by those events; offsets into the concatenated event texts. */
  readonly findings: SseFinding[];
}

export interface SseScanOptions extends StreamScanOptions {
  /** Largest event (and so largest partial line) held in memory, in characters (default 1 MiB). */
  readonly maxEventChars?: number;
  /** The text of an event to scan; by default the text fields of JSON data (see TEXT_KEYS), else the data. */
  readonly extractText?: (data: string, event: string | undefined) => string;
}

/**
 * Keys whose string values are model or tool text in the streaming formats we carry:
 * OpenAI chat and responses deltas, Anthropic content and input-JSON deltas, Gemini parts,
 * MCP results and tool descriptions, A2A message parts.
 */
const TEXT_KEYS = new Set(['content', 'text', 'delta', 'arguments', 'partial_json', 'thinking', 'output_text', 'refusal', 'description', 'message', 'data']);

/** The string values under TEXT_KEYS anywhere in JSON data, joined; non-JSON data as is. */
export function defaultEventText(data: string): string {
  const first = data.trimStart().charAt(0);
  if (first !== '{' && first !== '[') return data;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return data;
  }
  const parts: string[] = [];
  const stack: [unknown, boolean][] = [[parsed, false]];
  while (stack.length > 0) {
    const [v, isText] = stack.pop()!;
    if (typeof v === 'string') {
      if (isText) parts.push(v);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], isText]);
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i]![1], TEXT_KEYS.has(entries[i]![0])]);
    }
  }
  return parts.join('');
}

const DEFAULT_MAX_EVENT = 1 << 20;

/**
 * A text/event-stream body scanned event by event (the SSE framing of the HTML standard:
 * CR, LF or CRLF line ends, `data:`/`event:`/`id:` fields, comments, blank-line dispatch),
 * with a StreamScanner over the events' texts so that a pattern split across events or
 * chunks is found. Bytes are decoded as UTF-8 across chunk boundaries.
 */
export class SseScanner {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly text: StreamScanner;
  private readonly maxEvent: number;
  private readonly extract: (data: string, event: string | undefined) => string;
  private line = '';
  private pendingCR = false;
  private data: string[] = [];
  private dataChars = 0;
  private eventName: string | undefined;
  private eventId: string | undefined;
  private dispatched = 0;

  constructor(options: SseScanOptions = {}) {
    this.text = new StreamScanner(options);
    this.maxEvent = options.maxEventChars ?? DEFAULT_MAX_EVENT;
    this.extract = options.extractText ?? defaultEventText;
  }

  /** Feed the next body chunk. Throws JochError JOCH_SCAN_SSE_EVENT_TOO_LARGE when one event outgrows maxEventChars. */
  push(chunk: Uint8Array | string): SseScanResult {
    const s = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    return this.feed(s);
  }

  /** End of the body. An unterminated last event (browsers drop it) is still scanned, since it reached the client. */
  end(): SseScanResult {
    const result = this.feed(this.decoder.decode());
    if (this.line !== '') this.processLine(this.line, result);
    this.line = '';
    if (this.data.length > 0) this.dispatch(result);
    const last = this.dispatched - 1;
    for (const f of this.text.end()) result.findings.push({ ...f, event: last });
    return result;
  }

  private feed(s: string): SseScanResult {
    const result: SseScanResult = { events: [], findings: [] };
    let from = 0;
    if (this.pendingCR && s.charCodeAt(0) === 0x0a) from = 1; // the LF of a CRLF split across chunks
    this.pendingCR = false;
    for (let i = from; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      this.processLine(this.line + s.slice(from, i), result);
      this.line = '';
      if (c === 0x0d) {
        if (i + 1 === s.length) this.pendingCR = true;
        else if (s.charCodeAt(i + 1) === 0x0a) i++;
      }
      from = i + 1;
    }
    this.line += s.slice(from);
    if (this.line.length + this.dataChars > this.maxEvent) throw this.tooLarge();
    return result;
  }

  private tooLarge(): JochError {
    return new JochError(
      'JOCH_SCAN_SSE_EVENT_TOO_LARGE',
      `an event-stream event exceeds ${this.maxEvent} characters, the most one stream may hold`,
      {},
      'raise maxEventChars, or answer the stream with 413',
    );
  }

  private processLine(line: string, result: SseScanResult): void {
    if (line === '') {
      this.dispatch(result);
      return;
    }
    if (line.charCodeAt(0) === 0x3a) return; // comment
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (field === 'data') {
      this.data.push(value);
      this.dataChars += value.length + 1;
      if (this.dataChars > this.maxEvent) throw this.tooLarge();
    } else if (field === 'event') {
      this.eventName = value;
    } else if (field === 'id' && !value.includes('\0')) {
      this.eventId = value;
    }
  }

  private dispatch(result: SseScanResult): void {
    if (this.data.length === 0) {
      this.eventName = undefined;
      return;
    }
    const data = this.data.join('\n');
    const text = this.extract(data, this.eventName);
    const event: SseEvent = {
      data,
      text,
      ...(this.eventName === undefined ? {} : { event: this.eventName }),
      ...(this.eventId === undefined ? {} : { id: this.eventId }),
    };
    result.events.push(event);
    const index = this.dispatched++;
    for (const f of this.text.push(text)) result.findings.push({ ...f, event: index });
    this.data = [];
    this.dataChars = 0;
    this.eventName = undefined;
  }
}
