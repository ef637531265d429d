/**
 * `roadseg listen ws://host:port`: the reference consumer of the websocket protocol. It subscribes
 * to the signal only and prints each message as one JSON line on stdout, exactly as the JSONL sink
 * writes them. A failed or lost connection (refused, no answer to the handshake within --timeout,
 * dropped) is retried with backoff, --retries times in a row. Exit status: 0 when the stream ends
 * (or after --count lines), 2 when the server refuses the token or origin, 3 when it cannot be
 * reached or the connection is lost after the retries, 130 on Ctrl-C (143 on SIGTERM).
 */
import type { Command } from 'commander';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { messageText, protocolVersion, type HelloMessage, type SubscribeMessage } from '../sinks/websocket-protocol.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { interruptExitCode, onInterrupt } from '../util/interrupts.js';
import { backoffMs } from '../util/backoff.js';
import { intArg, numberArg, stderrLog } from './args.js';

interface ListenFlags {
  token?: string;
  count?: number;
  quiet?: boolean;
  timeout?: number;
  retries?: number;
}

export function registerListen(program: Command): void {
  program
    .command('listen')
    .description('print the drivable-area signal of a running `roadseg run --serve` as JSON lines')
    .argument('<url>', 'websocket server, ws://HOST:PORT')
    .option('--token <token>', 'access token the server was started with (sent as Authorization: Bearer)')
    .option('-n, --count <n>', 'exit after this many signal lines', intArg('--count'))
    .option('-q, --quiet', 'no connection messages on stderr')
    .option('--timeout <s>', 'seconds to wait for the server to answer the websocket handshake (default 10)', numberArg('--timeout', 0.1, 3600))
    .option('--retries <n>', 'reconnection attempts (backoff 0.5 s doubling to 8 s) after a failed or lost connection, in a row (default 3)', intArg('--retries', 0))
    .action(async (url: string, flags: ListenFlags) => {
      await listen(url, flags);
    });
}

function checkUrl(url: string): URL {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) {
    throw new RoadsegError(`listen expects a websocket URL, got "${url}"`, { hint: 'e.g. roadseg listen ws://127.0.0.1:8080 (the address `roadseg run --serve` prints)', exitCode: ExitCode.usage });
  }
  return parsed;
}

/** Why the server refused the handshake, in words, by HTTP status. */
function refusal(url: string, res: IncomingMessage): RoadsegError {
  const status = res.statusCode ?? 0;
  if (status === 401) {
    return new RoadsegError(`the server at ${url} rejected the access token (HTTP 401)`, { where: url, hint: 'pass the token the server was started with: --token TOKEN', exitCode: ExitCode.usage });
  }
  if (status === 403) {
    return new RoadsegError(`the server at ${url} refused this client's origin (HTTP 403)`, { where: url, hint: 'start the server with --allow-origin for this origin', exitCode: ExitCode.usage });
  }
  return new RoadsegError(`the server at ${url} refused the connection (HTTP ${status} ${res.statusMessage ?? ''})`.trimEnd(), {
    where: url,
    hint: status === 503 ? 'the server has too many clients or its stream has ended' : 'is this a `roadseg run --serve` server?',
    exitCode: ExitCode.input,
  });
}

/** How one connection ended. `transient` failures are retried with backoff, the others end `listen`. */
type Outcome = { kind: 'done' } | { kind: 'interrupted' } | { kind: 'fatal'; error: RoadsegError } | { kind: 'transient'; error: RoadsegError; opened: boolean };

async function listen(url: string, flags: ListenFlags): Promise<void> {
  checkUrl(url);
  const log = flags.quiet ? () => {} : stderrLog;
  const state = { lines: 0, interrupted: false, stdoutGone: false };
  let current: WebSocket | undefined;
  // Ctrl-C ends the listening: exit 130 (143 for SIGTERM), like any interrupted command.
  let wake = () => {};
  const released = onInterrupt((sig) => {
    if (state.interrupted) return;
    state.interrupted = true;
    process.exitCode = interruptExitCode(sig);
    current?.close(1000, 'client interrupted');
    current?.terminate();
    wake();
  });
  // A reader that went away (`| head`) ends the listening quietly.
  process.stdout.on('error', () => {
    state.stdoutGone = true;
    current?.terminate();
  });
  try {
    for (let attempt = 0; ; attempt++) {
      const outcome = await connectOnce(url, flags, log, state, (ws) => (current = ws));
      if (outcome.kind === 'transient' && outcome.opened) attempt = 0;
      if (state.interrupted) {
        log(`interrupted after ${state.lines} signal lines`);
        return;
      }
      if (state.stdoutGone || outcome.kind === 'done') return;
      if (outcome.kind === 'fatal') throw outcome.error;
      if (outcome.kind === 'interrupted') return;
      const retries = flags.retries ?? 3;
      if (attempt >= retries) throw outcome.error;
      const wait = backoffMs(attempt);
      log(`${outcome.error.message}; retrying in ${(wait / 1000).toFixed(1)} s (retry ${attempt + 1} of ${retries})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, wait);
        wake = () => (clearTimeout(t), r());
      });
      if (state.interrupted) {
        log(`interrupted after ${state.lines} signal lines`);
        return;
      }
    }
  } finally {
    released();
  }
}

function connectOnce(url: string, flags: ListenFlags, log: (line: string) => void, state: { lines: number; interrupted: boolean }, track: (ws: WebSocket) => void): Promise<Outcome> {
  const headers: Record<string, string> = flags.token ? { Authorization: `Bearer ${flags.token}` } : {};
  const timeoutS = flags.timeout ?? 10;
  return new Promise<Outcome>((resolve) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: timeoutS * 1000 });
    track(ws);
    let settled = false;
    let opened = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const lost = (why: string) => new RoadsegError(`the connection to ${url} was lost (${why}) after ${state.lines} signal lines`, { where: url, hint: 'the server stopped or the network failed', exitCode: ExitCode.input });

    ws.on('unexpected-response', (_req, res) => {
      ws.terminate();
      finish({ kind: 'fatal', error: refusal(url, res) });
    });
    ws.on('error', (e) => {
      if (state.interrupted) return finish({ kind: 'interrupted' });
      if (opened) return finish({ kind: 'transient', opened, error: lost(messageOf(e)) });
      const code = (e as NodeJS.ErrnoException).code;
      const timedOut = /handshake has timed out/i.test(messageOf(e));
      const what = code === 'ECONNREFUSED' ? 'connection refused' : timedOut ? `no answer to the websocket handshake within ${timeoutS} s` : messageOf(e);
      finish({
        kind: 'transient',
        opened,
        error: new RoadsegError(`cannot connect to ${url}: ${what}`, {
          where: url,
          hint: timedOut ? 'something accepts connections there but does not answer as a `roadseg run --serve` server; check the port (or raise --timeout)' : 'is `roadseg run SOURCE --serve PORT` running there? check the host and port',
          exitCode: ExitCode.input,
          cause: e,
        }),
      });
    });
    ws.on('open', () => {
      opened = true;
      const subscribe: SubscribeMessage = { type: 'subscribe', frames: false, signal: true, classMap: false };
      ws.send(JSON.stringify(subscribe));
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary || settled) return;
      const line = messageText(data);
      let message: { v?: unknown; type?: unknown };
      try {
        message = JSON.parse(line) as { v?: unknown; type?: unknown };
      } catch {
        return;
      }
      if (message.v !== protocolVersion) {
        ws.terminate();
        finish({ kind: 'fatal', error: new RoadsegError(`the server at ${url} speaks protocol version ${String(message.v)}; this roadseg understands ${protocolVersion}`, { where: url, hint: 'use the same roadseg version on both ends', exitCode: ExitCode.input }) });
        return;
      }
      if (message.type === 'hello') {
        const hello = message as HelloMessage;
        log(`listening to ${url}: model ${hello.model} on ${hello.device}, source ${hello.source.id} (${hello.source.width}x${hello.source.height} @ ${hello.source.fps.toFixed(2)} fps)`);
      } else if (message.type === 'signal') {
        // A slow reader of stdout pauses the socket; the server then drops signals for this
        // client rather than buffering them without limit.
        if (!process.stdout.write(line + '\n')) {
          ws.pause();
          process.stdout.once('drain', () => ws.resume());
        }
        state.lines++;
        if (flags.count !== undefined && state.lines >= flags.count) {
          ws.close(1000, 'done');
          finish({ kind: 'done' });
        }
      }
    });
    ws.on('close', (code, reason) => {
      if (state.interrupted) return finish({ kind: 'interrupted' });
      if (code === 1000) {
        log(`the stream ended (${state.lines} signal lines)`);
        finish({ kind: 'done' });
      } else {
        finish({ kind: 'transient', opened, error: lost(`code ${code}${reason.length ? `: ${reason.toString()}` : ''}`) });
      }
    });
  });
}
