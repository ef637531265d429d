/** `roadseg report signal.jsonl -o report.html`: the HTML report of an existing signal file. */
import type { Command } from 'commander';
import { createReadStream, existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { defaults } from '../app/config.js';
import { claimFiles } from '../app/outputs.js';
import type { SignalMessage } from '../core/signal.js';
import { renderReport } from '../sinks/report-html.js';
import { RoadStats } from '../stages/road-stats.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { plural } from '../util/text.js';
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
      if (!existsSync(file)) throw new RoadsegError(`signal file not found: ${file}`, { where: resolve(file), hint: 'make one with roadseg run VIDEO -s signal.jsonl', exitCode: ExitCode.input });
      // The report never replaces its signal file, under any name (a symbolic or hard link).
      const claim = claimFiles([{ path: file, what: 'signal file' }], [{ path: flags.out, what: 'report', hint: 'give -o another file name, e.g. report.html' }]);
      try {
        await writeReport(file, flags);
      } finally {
        claim.release();
      }
    });
}

/** Reads the signal file line by line and writes its report (checked and locked by the caller). */
async function writeReport(file: string, flags: ReportFlags): Promise<void> {
  const roads = new Map<string, RoadStats>();
  const sources = new Set<string>();
  const models = new Set<string>();
  let first: SignalMessage | undefined;
  let last: SignalMessage | undefined;
  let lineNo = 0;
  for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
    lineNo++;
    if (!line.trim()) continue;
    let m: SignalMessage;
    try {
      m = JSON.parse(line) as SignalMessage;
    } catch (e) {
      throw new RoadsegError(`line ${lineNo} is not JSON: ${messageOf(e)}`, { where: `${resolve(file)}:${lineNo}`, hint: 'give a signal file written by roadseg run -s', exitCode: ExitCode.input });
    }
    if (m?.type !== 'signal' || typeof m.frame !== 'number' || typeof m.ptsMs !== 'number') {
      throw new RoadsegError(`line ${lineNo} is not a signal message`, { where: `${resolve(file)}:${lineNo}`, hint: 'each line must be a signal message ({"v":1,"type":"signal",...})', exitCode: ExitCode.input });
    }
    first ??= m;
    last = m;
    sources.add(m.source);
    models.add(`${m.model} on ${m.device}`);
    if (!roads.has(m.source)) roads.set(m.source, new RoadStats(flags.blockedBelow));
    roads.get(m.source)!.add(m);
  }
  if (!first || !last) throw new RoadsegError('the signal file has no signal messages', { where: resolve(file), exitCode: ExitCode.input });
  const frames = [...roads.values()].reduce((n, r) => n + r.summary().frames, 0);
  const spanS = (last.ptsMs - first.ptsMs) / 1000;
  writeFileSync(
    flags.out,
    renderReport({
      title: `roadseg report: ${[...sources].join(', ')}`,
      facts: [
        ['signal file', resolve(file)],
        ['source', [...sources].join(', ')],
        ['model', [...models].join(', ')],
        ['frames', `${plural(frames, 'frame')} (frames ${first.frame} to ${last.frame}), ${spanS.toFixed(1)} s of stream`],
        ['captured', `${new Date(first.captureTime).toISOString()} to ${new Date(last.captureTime).toISOString()}`],
        ['written', new Date().toISOString()],
      ],
      roads: [...roads].map(([source, r]) => ({ source, road: r.summary(), series: r.series, spans: r.spans })),
      sheet: [],
      sheetNote: 'A signal file holds no pictures: `roadseg run ... --report report.html` puts a contact sheet of overlay frames here.',
    }),
  );
  stderrLog(`report of ${plural(frames, 'frame')}: ${flags.out}`);
}
