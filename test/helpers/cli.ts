import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { cli, repoRoot } from './paths.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `roadseg` command, as a user would. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; wrap?: string[] } = {}): CliResult {
  const [cmd, ...pre] = opts.wrap ?? [];
  const r = spawnSync(cmd ?? process.execPath, [...pre, ...(cmd ? [process.execPath] : []), cli, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Same, asynchronously, so the test can act on the running process (signals, sockets). */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const child = spawn(process.execPath, [cli, ...args], { cwd: opts.cwd ?? repoRoot, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, done, out: () => stdout, err: () => stderr };
}

/** No stack trace, no native abort, not killed by a signal: how every CLI run must end. */
export function expectClean(r: CliResult): void {
  expect(r.stderr).not.toMatch(/internal error|\n\s+at .*:\d+:\d+|terminate called|Napi::Error|Unhandled|\uFEFF/);
  expect(r.signal).toBeNull();
}

/** Runs ffmpeg quietly (test inputs are made with it). */
export function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', ...args]);
}

/** A RoadsegError's three lines: what, where, hint. */
export const expectWhereHint = (r: CliResult): void => {
  expect(r.stderr).toMatch(/error: [^]*?\n\s+where: .*\n\s+hint: /);
};

/** A small test clip made with ffmpeg: 160x90 at 10 fps, `seconds` long (10 frames a second). */
export function testClip(path: string, seconds = 2): string {
  ffmpeg('-f', 'lavfi', '-i', `testsrc=size=160x90:rate=10:duration=${seconds}`, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', path);
  return path;
}
