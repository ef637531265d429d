/** `roadseg report signal.jsonl -o report.html`: the HTML report of an existing signal file. */
import type { Command } from 'commander';
import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { defaults } from '../app/config.js';
import { claimFiles } from '../app/outputs.js';
import type { SignalMessage } from '../core/signal.js';
import { signalProblems } from '../core/signal-schema.js';
import { renderReport } from '../sinks/report-html.js';
import { RoadStats } from '../stages/road-stats.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { writeOutputFile } from '../util/output.js';
import { isUtf16, plural } from '../util/text.js';
import { numberArg, stderrLog } from './args.js';

interface ReportFlags {
  out: string;
  blockedBelow: number;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('write the HTML report (facts, plots of the signal over time, blocked spans) of a signal file made by `run -s`')
    .argument('<signal.jsonl>', 'signal file: one JSON signal message per line')
    .requiredOption('-o, --out <file.html>', 'the report to write')
    .option('--blocked-below <pct>', 'the ego corridor counts as blocked below this drivable %', numberArg('--blocked-below', 0, 100), defaults.blockedBelowPct)
    .action(async (file: string, flags: ReportFlags) => {
      checkSignalFile(file);
      // The report never replaces its signal file, under any name (a symbolic or hard link).
      const claim = claimFiles([{ path: file, what: 'signal file' }], [{ path: flags.out, what: 'report', hint: 'give -o another file name, e.g. report.html' }]);
      try {
        await writeReportOf(file, flags);
      } finally {
        claim.release();
      }
    });
}

function checkSignalFile(file: string): void {
  if (!existsSync(file)) throw new RoadsegError(`signal file not found: ${file}`, { where: resolve(file), hint: 'make one with roadseg run VIDEO -s signal.jsonl', exitCode: ExitCode.input });
  if (statSync(file).isDirectory()) throw new RoadsegError(`the signal file is a folder: ${file}`, { where: resolve(file), hint: 'give the .jsonl file written by roadseg run -s', exitCode: ExitCode.input });
  const head = Buffer.alloc(64);
  const fd = openSync(file, 'r');
  const got = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  if (isUtf16(head.subarray(0, got))) throw new RoadsegError(`the signal file is UTF-16, not UTF-8: ${file}`, { where: resolve(file), hint: 'roadseg writes UTF-8; convert it back (iconv -f UTF-16 -t UTF-8)', exitCode: ExitCode.input });
}

/** A line that is not a version-1 signal message: which line, and why. */
function badLine(file: string, lineNo: number, why: string, hint = 'give a signal file written by roadseg run -s: one signal message ({"v":1,"type":"signal",...}) per line'): RoadsegError {
  return new RoadsegError(`line ${lineNo} of the signal file ${why}`, { where: `${resolve(file)}:${lineNo}`, hint, exitCode: ExitCode.input });
}

/** One line as a signal message, checked against the signal's schema; blank lines are undefined. */
function parseLine(file: string, lineNo: number, line: string): SignalMessage | undefined {
  // A UTF-8 byte-order mark (editors on Windows add one) is not part of the first message.
  const text = lineNo === 1 ? line.replace(/^\uFEFF/, '') : line;
  if (!text.trim()) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw badLine(file, lineNo, `is not JSON: ${messageOf(e)}`);
  }
  const problems = signalProblems(m);
  if (problems[0]?.startsWith('v: ')) throw badLine(file, lineNo, `is ${problems[0].slice(3)}`, 'read it with the roadseg version that wrote it, or a newer one');
  if (problems.length) throw badLine(file, lineNo, `is not a valid signal message: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`);
  return m as SignalMessage;
}

/** Reads the signal file line by line and writes its report (checked and locked by the caller). */
async function writeReportOf(file: string, flags: ReportFlags): Promise<void> {
  const roads = new Map<string, RoadStats>();
  const sources = new Set<string>();
  const models = new Set<string>();
  let first: SignalMessage | undefined;
  let last: SignalMessage | undefined;
  let lineNo = 0;
  let ended = 0;
  for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
    const m = parseLine(file, ++lineNo, line);
    if (!m) continue;
    // The marker a failed source leaves once, when it stops: not a frame.
    if (m.status === 'ended') {
      ended++;
      continue;
    }
    first ??= m;
    last = m;
    sources.add(m.source);
    models.add(`${m.model} on ${m.device}`);
    if (!roads.has(m.source)) roads.set(m.source, new RoadStats(flags.blockedBelow));
    roads.get(m.source)!.add(m);
  }
  if (!first || !last) throw new RoadsegError('the signal file has no signal messages of frames', { where: resolve(file), hint: 'give a signal file written by roadseg run -s', exitCode: ExitCode.input });
  const frames = [...roads.values()].reduce((n, r) => n + r.summary().frames, 0);
  const spanS = (last.ptsMs - first.ptsMs) / 1000;
  writeOutputFile(
    flags.out,
    renderReport({
      title: `roadseg report: ${[...sources].join(', ')}`,
      facts: [
        ['signal file', resolve(file)],
        ['source', [...sources].join(', ')],
        ['model', [...models].join(', ')],
        ['frames', `${plural(frames, 'frame')} (frames ${first.frame} to ${last.frame}), ${spanS.toFixed(1)} s of stream${ended ? `; ${plural(ended, 'source')} ended early` : ''}`],
        ['captured', `${new Date(first.captureTime).toISOString()} to ${new Date(last.captureTime).toISOString()}`],
        ['written', new Date().toISOString()],
      ],
      roads: [...roads].map(([source, r]) => ({ source, road: r.summary(), series: r.series, spans: r.spans })),
      sheet: [],
      sheetNote: 'A signal file holds no pictures: `roadseg run ... --report report.html` puts a contact sheet of overlay frames here.',
    }),
    'report',
  );
  stderrLog(`report of ${plural(frames, 'frame')}${ended ? ` (${plural(ended, '"ended" marker')} skipped)` : ''}: ${flags.out}`);
}
