// What a user sees from `roadseg run`: the progress bar on a terminal (through `script`, a real
// pseudo-terminal), status lines without one, the summary, the HTML report opened in Chromium.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { getManifest } from '../src/engine/registry.js';
import { describe, expect, it } from 'vitest';
import { runCli, startCli, type CliResult } from './helpers/cli.js';
import { cli, modelsDir, tempDir, videos } from './helpers/paths.js';
import { waitFor } from './helpers/servers.js';

const clip = join(videos, 'udacity_lanelines_solidWhiteRight.mp4');
const fast = ['--input-height', '129', '--models-dir', modelsDir];
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Runs roadseg on a pseudo-terminal; `input` is typed into it (a Ctrl-C) once the screen shows what `when` waits for. */
function onTerminal(args: string[], type?: { input: string; when: (screen: string) => boolean }): Promise<CliResult> {
  const command = [process.execPath, cli, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '160' } });
  let stdout = '';
  let typed = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (type && !typed && type.when(stdout)) {
      typed = true;
      child.stdin.write(type.input);
    }
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr: '' })));
}

/** The terminal's lines as last drawn: each \r or cursor-to-column-1 starts the line again. */
const screenLines = (raw: string) =>
  raw
    .replace(/\x1b\[1G|\r(?!\n)/g, '\r')
    .split(/\r?\n/)
    .map((l) => l.split('\r').filter((part) => part.replace(/\x1b\[[0-9;?]*[a-zA-Z]|\x1b[78]/g, '').trim()).at(-1) ?? '')
    .map((l) => l.replace(/\x1b\[[0-9;?]*[a-zA-Z]|\x1b[78]/g, '').trim());

describe('roadseg run: what the user sees', () => {
  const dir = tempDir();

  it('on a terminal the bar counts the frames of --duration and --stride and ends at 100 %; the summary and the report follow', async () => {
    const report = join(dir, 'report.html');
    const r = await onTerminal(['run', clip, '--duration', '2', '--stride', '2', '--report', report, '-s', join(dir, 'signal.jsonl'), '--summary', join(dir, 'summary.json'), ...fast]);
    expect(r.code).toBe(0);
    const lines = screenLines(r.stdout);
    const bar = lines.findIndex((l) => /\d+% \| \d+\/\d+ frames/.test(l));
    expect(lines[bar]).toMatch(/100% \| 25\/25 frames \| [\d.]+ fps \| ETA 0s$/);
    expect(lines[bar + 1]).toMatch(/^done: 25 frames in, 25 out/);
    expect(r.stdout).not.toMatch(/\/221 frames/);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { road: Record<string, unknown>; sinks: Record<string, unknown> };
    expect(summary.road).toMatchObject({ frames: 25, stale: 0, lowConfidence: expect.any(Number), blockedBelowPct: 50 });
    expect(summary.road.egoCorridorPct).toMatchObject({ mean: expect.any(Number), min: expect.any(Number), p5: expect.any(Number), p50: expect.any(Number), p95: expect.any(Number) });
    expect(Object.keys(summary.sinks)).toEqual([`signal ${join(dir, 'signal.jsonl')}`]);
    expect(r.stdout).toMatch(/road: drivable % mean [\d.]+, min [\d.]+, p5 [\d.]+, median [\d.]+, p95 [\d.]+; ego corridor % mean/);
    expect(r.stdout).toMatch(/road: ego corridor below 50 % for [\d.]+ s \(\d+ frames?, \d+ spans?\); \d+ low-confidence frames?, 0 stale frames/);
  });

  it('the report opens in Chromium with no network: facts, plots, a contact sheet of 12 frames; `roadseg report` makes one from the signal file', async () => {
    const fromSignal = join(dir, 'from-signal.html');
    const made = runCli(['report', join(dir, 'signal.jsonl'), '-o', fromSignal]);
    expect(made.stderr).toMatch(/report of 25 frames: /);
    expect(made.code).toBe(0);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const requests: string[] = [];
      page.on('request', (req) => !req.url().startsWith('file:') && !req.url().startsWith('data:') && requests.push(req.url()));
      await page.goto(`file://${join(dir, 'report.html')}`);
      expect(await page.title()).toBe('roadseg report: udacity_lanelines_solidWhiteRight.mp4');
      const facts = await page.locator('table.facts').innerText();
      expect(facts).toMatch(new RegExp(`model\\s+${getManifest().id}`));
      expect(facts).toMatch(/frames\s+25 frames through the pipeline/);
      for (const series of ['drivable %', 'ego corridor %']) {
        const d = await page.locator(`#plot-road path[data-series="${series}"]`).getAttribute('d');
        expect(d!.match(/[ML]/g)).toHaveLength(25);
      }
      const sheet = page.locator('.sheet img');
      expect(await sheet.count()).toBe(12);
      const widths = await sheet.evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
      expect(widths.every((w) => w === 320)).toBe(true);
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      expect(readFileSync(join(dir, 'report.png')).length).toBeGreaterThan(10_000);

      await page.goto(`file://${fromSignal}`);
      expect(await page.locator('#plot-road path[data-series="ego corridor %"]').count()).toBe(1);
      expect(await page.locator('.sheet img').count()).toBe(0);
      expect(await page.locator('body').innerText()).toMatch(/A signal file holds no pictures/);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('a loop shows a spinner (no total, no ETA); Ctrl-C leaves it on its own line, then the summary', async () => {
    const r = await onTerminal(['run', clip, '--duration', '1', '--loop', ...fast], { input: '\x03', when: (screen) => /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] [1-9]\d* frames \|/.test(screen) });
    expect(r.code).toBe(130);
    const lines = screenLines(r.stdout);
    const stop = lines.findIndex((l) => l.includes('SIGINT: stopping'));
    expect(lines[stop - 1]).toMatch(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \d+ frames \| [\d.]+ fps \| \d+s$/);
    expect(lines[stop + 1]).toMatch(/^done: \d+ frames in/);
    expect(r.stdout).not.toMatch(/ETA|\d+\/\d+ frames/);
  });

  it('without a terminal: status lines every --status-interval seconds, and a word when nothing is saved', async () => {
    // A loop, stopped once two status lines are out: however fast or slow the machine is.
    const run = startCli(['run', clip, '--duration', '1', '--loop', '--realtime', '--status-interval', '1', ...fast]);
    await waitFor(() => run.err().split('\n').filter((l) => l.startsWith('roadseg: status: ')).length >= 2, 120_000, 'two status lines');
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/no output: nothing is saved \(only the summary is printed\); add -o overlay\.mp4, -s signal\.jsonl/);
    const status = r.stderr.split('\n').filter((l) => l.startsWith('roadseg: status: '));
    expect(status.length).toBeGreaterThanOrEqual(2);
    for (const l of status) expect(l).toMatch(/^roadseg: status: \d+ frames, [\d.]+ fps, \d+ dropped, latency p95 \d+ ms(, source online)?$/);
    expect(r.stderr).not.toMatch(/\x1b\[/);
  });

  it('--version, -V; --help texts show the defaults of the config schema', () => {
    const version = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) expect(runCli([flag]).stdout.trim()).toBe(version);
    const run = runCli(['run', '--help']).stdout.replace(/\s+/g, ' ');
    for (const text of ['class colour opacity, 0..1 (default: 0.45)', 'at most (1 to 16) (default: 3 for files, 1 for live sources)', 'keep every n-th frame (default: 1)', '(default: 0.5,0.6,1,0.1,0.7)', 'not a terminal; 0 for none (default: 10)', 'blocked below this drivable % (default: 50)']) expect(run).toContain(text);
    const segment = runCli(['segment', '--help']).stdout.replace(/\s+/g, ' ');
    for (const text of ['(default: 0.45)', '(default: 0.5,0.6,1,0.1,0.7)', '(default: "out/segment")']) expect(segment).toContain(text);
  });
});
