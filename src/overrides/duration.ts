import { JochError } from '../errors.js';

const DURATION = /^(\d{1,7})(ms|s|m|h|d)?$/;
const UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `2h`, `1d` or a number of seconds, in milliseconds, within 1 s and `maxMs`. */
export function parseDuration(name: string, value: unknown, maxMs: number): number {
  const m = typeof value === 'number' ? (Number.isSafeInteger(value) ? [String(value), String(value), 's'] : null) : typeof value === 'string' ? DURATION.exec(value.trim()) : null;
  if (!m) throw new JochError('JOCH_BAD_REQUEST', `"${name}" must be a duration such as 90s, 30m or 2h, not ${JSON.stringify(value)}`);
  const ms = Number(m[1]) * (UNIT[m[2] ?? 's'] ?? 1000);
  if (ms < 1000 || ms > maxMs) throw new JochError('JOCH_BAD_REQUEST', `"${name}" must be between 1s and ${formatDuration(maxMs)}, not ${JSON.stringify(value)}`);
  return ms;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}
