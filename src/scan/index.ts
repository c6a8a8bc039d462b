// The scanning API the policy engine uses. Pure: no I/O, no state between calls.
export { classifyPayload, redactPayload } from './payload.js';
export type { Redacted } from './payload.js';
export { scanText } from './scan-text.js';
export { piiDetector } from './pii.js';
export { secretDetector } from './secrets.js';
export { injectionDetector } from './injection.js';
export { DATA_CLASSES } from './types.js';
export type { DataClass, Detector, Finding } from './types.js';
