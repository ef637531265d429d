/** Argument parsers and the log line shared by the commands; light, so `listen` starts fast. */
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import type { EgoCorridor } from '../core/analysis.js';
import { redactUri } from '../core/uri.js';
import { parseCorridor } from '../stages/drivable.js';

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

/** `--corridor CX,TOP,BOTTOM,TW,BW` (run, segment, submit): a bad value is a usage error. */
export function corridorArg(text: string): EgoCorridor {
  try {
    return parseCorridor(text);
  } catch (e) {
    throw new RoadsegError(messageOf(e), { exitCode: ExitCode.usage });
  }
}

export function stderrLog(line: string): void {
  process.stderr.write(`roadseg: ${redactUri(line)}\n`);
}
