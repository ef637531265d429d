/**
 * `roadseg listen ws://host:port`: the reference consumer of the websocket protocol. It subscribes
 * to the signal only and prints each message as one JSON line on stdout, exactly as the JSONL sink
 * writes them. Exit status: 0 when the stream ends (or after --count lines), 2 when the server
 * refuses the token or origin, 3 when it cannot be reached or the connection is lost.
 */
import type { Command } from 'commander';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { messageText, protocolVersion, type HelloMessage, type SubscribeMessage } from '../sinks/websocket-protocol.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { intArg, stderrLog } from './args.js';

interface ListenFlags {
  token?: string;
  count?: number;
  quiet?: boolean;
}

export function registerListen(program: Command): void {
  program
    .command('listen')
    .description('print the drivable-area signal of a running `roadseg run --serve` as JSON lines')
    .argument('<url>', 'websocket server, ws://HOST:PORT')
    .option('--token <token>', 'access token the server was started with (sent as Authorization: Bearer)')
    .option('-n, --count <n>', 'exit after this many signal lines', intArg('--count'))
    .option('-q, --quiet', 'no connection messages on stderr')
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

function listen(url: string, flags: ListenFlags): Promise<void> {
  checkUrl(url);
  const log = flags.quiet ? () => {} : stderrLog;
  const headers: Record<string, string> = flags.token ? { Authorization: `Bearer ${flags.token}` } : {};
  return new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    let lines = 0;
    let settled = false;
    const finish = (error?: RoadsegError) => {
      if (settled) return;
      settled = true;
      process.off('SIGINT', onInterrupt);
      process.off('SIGTERM', onInterrupt);
      if (error) reject(error);
      else resolve();
    };
    // Ctrl-C ends the listening, not a failure.
    const onInterrupt = () => {
      ws.close(1000, 'client interrupted');
      finish();
    };
    process.on('SIGINT', onInterrupt);
    process.on('SIGTERM', onInterrupt);
    // A reader that went away (`| head`) ends the listening quietly.
    process.stdout.on('error', () => {
      ws.terminate();
      finish();
    });

    ws.on('unexpected-response', (_req, res) => {
      ws.terminate();
      finish(refusal(url, res));
    });
    let opened = false;
    ws.on('error', (e) => {
      if (opened) {
        finish(new RoadsegError(`the connection to ${url} failed after ${lines} signal lines: ${messageOf(e)}`, { where: url, hint: 'the server stopped or the network failed', exitCode: ExitCode.input, cause: e }));
        return;
      }
      const code = (e as NodeJS.ErrnoException).code;
      const what = code === 'ECONNREFUSED' ? 'connection refused' : messageOf(e);
      finish(
        new RoadsegError(`cannot connect to ${url}: ${what}`, {
          where: url,
          hint: 'is `roadseg run SOURCE --serve PORT` running there? check the host and port',
          exitCode: ExitCode.input,
          cause: e,
        }),
      );
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
        finish(new RoadsegError(`the server at ${url} speaks protocol version ${String(message.v)}; this roadseg understands ${protocolVersion}`, { where: url, hint: 'use the same roadseg version on both ends', exitCode: ExitCode.input }));
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
        lines++;
        if (flags.count !== undefined && lines >= flags.count) {
          ws.close(1000, 'done');
          finish();
        }
      }
    });
    ws.on('close', (code, reason) => {
      if (settled) return;
      if (code === 1000) {
        log(`the stream ended (${lines} signal lines)`);
        finish();
      } else {
        finish(new RoadsegError(`the connection to ${url} was lost (code ${code}${reason.length ? `: ${reason.toString()}` : ''}) after ${lines} signal lines`, { where: url, hint: 'the server stopped or the network failed', exitCode: ExitCode.input }));
      }
    });
  });
}
