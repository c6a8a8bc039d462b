// The scanning API. Pure: no I/O; the only state is in the StreamScanner and SseScanner
// objects a caller creates for one stream.
//
// Whole values (the policy engine, ext_proc for buffered bodies):
//   classifyPayload(payload, options?)           → Set<DataClass>   for `data.contains`
//   redactPayload(payload, classes, options?)    → { value, redactions, types }   for modify
//   scanPayload(payload, classes?, options?)     → PayloadFinding[] (type, span, score, rule,
//                                                  JSON pointer)   for annotate and audit
//   scanText(text, classes?, options?)           → Finding[]  sorted, non-overlapping
// options: { allowedHosts?: string[] (markdown image/link hosts), minScore?: number
//            (default 0.5), types?: Set<string> (only these finding types) }
//
// Streams (ext_proc STREAMED / FULL_DUPLEX_STREAMED bodies):
//   new SseScanner(options?)    text/event-stream: push(chunk: Uint8Array | string) →
//                               { events, findings }; end() → the same for what is left.
//                               Findings are reported once each, with offsets into the
//                               concatenated event text and the index of the event that
//                               completed them; a pattern split across events or chunks is
//                               found through a bounded carry-over window.
//   new StreamScanner(options?) the same over plain text: push(text) / end() → findings.
// Memory per stream is bounded by the carry window plus one partial event (maxEventChars;
// more throws JochError JOCH_SCAN_SSE_EVENT_TOO_LARGE, which callers answer with 413).
export { classifyPayload, redactPayload, scanPayload } from './payload.js';
export type { PayloadFinding, PayloadScanOptions, Redacted } from './payload.js';
export { detectors, scanText } from './scan-text.js';
export { piiDetector } from './pii.js';
export { secretDetector } from './secrets.js';
export { injectionDetector } from './injection.js';
export { DATA_CLASSES, DEFAULT_MIN_SCORE, FINDING_TYPES } from './types.js';
export type { DataClass, Detector, Finding, FindingType, ScanOptions } from './types.js';
export { SseScanner, StreamScanner, defaultEventText } from './stream.js';
export type { SseEvent, SseFinding, SseScanOptions, SseScanResult, StreamScanOptions } from './stream.js';
