/**
 * The one error type users see. `what` says what went wrong, `where` names the file, URI, stage or
 * frame, `hint` says what to do. The CLI prints these three lines and exits with `exitCode`;
 * any other error is a bug and is printed with its stack.
 */
export class RoadsegError extends Error {
  readonly where: string | undefined;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(what: string, opts: { where?: string; hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(what, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RoadsegError';
    this.where = opts.where;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }

  /** Multi-line message for people: what, where, what to do. */
  describe(): string {
    const lines = [`error: ${this.message}`];
    if (this.where) lines.push(`  where: ${this.where}`);
    if (this.hint) lines.push(`  hint:  ${this.hint}`);
    return lines.join('\n');
  }
}

/** Exit codes, so scripts can tell failures apart. */
export const ExitCode = {
  failure: 1,
  usage: 2,
  input: 3,
  model: 4,
  output: 5,
  device: 6,
  interrupted: 130,
} as const;

/** The OpenCV binding throws plain strings; turn whatever was thrown into a message. */
export function messageOf(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  return String(thrown);
}
