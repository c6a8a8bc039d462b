/** A place in an input: a file position and/or a JSON pointer into the parsed document. */
export interface Location {
  readonly file?: string;
  readonly line?: number;
  readonly col?: number;
  readonly pointer?: string;
}

/**
 * The one error class. `code` is stable (tests and operators match on it); the message says
 * what is wrong and why; `location` says where; `hint` shows how to fix it.
 */
export class JochError extends Error {
  override readonly name = 'JochError';
  constructor(
    readonly code: string,
    message: string,
    readonly location: Location = {},
    readonly hint?: string,
  ) {
    super(message);
  }

  /** `file:line:col: CODE: message` (with the JSON pointer when there is no file position). */
  format(): string {
    return formatProblem({ code: this.code, message: this.message, location: this.location, hint: this.hint });
  }
}

/** A problem found in an input; validators collect many of these instead of stopping at one. */
export interface Problem {
  readonly code: string;
  readonly message: string;
  readonly location: Location;
  readonly hint?: string | undefined;
  readonly severity?: 'error' | 'warning';
}

export function formatProblem(p: Problem): string {
  const { file, line, col, pointer } = p.location;
  const where: string[] = [];
  if (file !== undefined) where.push(file);
  if (line !== undefined) where.push(String(line), String(col ?? 1));
  let head = where.length > 0 ? `${where.join(':')}: ` : '';
  if (line === undefined && pointer !== undefined) head += `at ${pointer === '' ? '/' : pointer}: `;
  const sev = p.severity === 'warning' ? 'warning ' : '';
  const text = `${head}${sev}${p.code}: ${p.message}`;
  return p.hint ? `${text}\n  hint: ${p.hint.replace(/\n/g, '\n  ')}` : text;
}

/** RFC 6901 JSON pointer from path segments. */
export function toPointer(path: readonly (string | number)[]): string {
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
