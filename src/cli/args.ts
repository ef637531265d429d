/** Argument parsers and the log line shared by the commands; light, so `listen` starts fast. */
import { ExitCode, RoadsegError } from '../util/errors.js';

export function intArg(name: string, min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new RoadsegError(`${name} must be an integer >= ${min}, got "${value}"`, { exitCode: ExitCode.usage });
    return n;
  };
}

export function numberArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new RoadsegError(`${name} must be a number in [${min}, ${max}], got "${value}"`, { exitCode: ExitCode.usage });
    return n;
  };
}

export function stderrLog(line: string): void {
  process.stderr.write(`roadseg: ${line}\n`);
}
