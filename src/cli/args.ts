/** Argument parsers and the log line shared by the commands; light, so `listen` starts fast. */
import { ExitCode, RoadsegError } from '../util/errors.js';
import { redactUri } from '../core/uri.js';

export function intArg(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
      throw new RoadsegError(`${name} must be an integer ${range}, got "${value}"`, { where: `the command line, ${name}`, hint: `give ${name} an integer ${range}`, exitCode: ExitCode.usage });
    }
    return n;
  };
}

export function numberArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new RoadsegError(`${name} must be a number in [${min}, ${max}], got "${value}"`, { where: `the command line, ${name}`, hint: `give ${name} a number from ${min} to ${max}`, exitCode: ExitCode.usage });
    return n;
  };
}

export function stderrLog(line: string): void {
  process.stderr.write(`roadseg: ${redactUri(line)}\n`);
}
