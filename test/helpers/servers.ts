/**
 * Real redis-server and mosquitto processes on free loopback ports, for the broker tests. Each is
 * started in its own temporary folder and can be stopped and started again on the same port (a
 * broker restart), keeping Redis's append-only file.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Not paths.ts: `npm run bench:fleet` uses these servers from dist/, where paths.ts's folders differ.
const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what = 'a condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Whether some process listens on a loopback TCP port (or has taken a client on it), read from the
 * kernel's socket table: unlike a test connection, this does not use up a server that takes a
 * single client (ffmpeg -listen 1).
 */
export function isListening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].some((table) => {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      return false;
    }
    // Columns: sl local_address rem_address st ...; state 0A is LISTEN, 01 ESTABLISHED (a server
    // that takes one client stops listening once it has it: it served, too).
    return text.split('\n').some((line) => {
      const [, local, , state] = line.trim().split(/\s+/);
      return (state === '0A' || state === '01') && local?.endsWith(`:${hex}`);
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export interface ServerProcess {
  port: number;
  /** redis://127.0.0.1:PORT or mqtt://127.0.0.1:PORT */
  url: string;
  start(): Promise<void>;
  /** The running server's process id (for CPU accounting). */
  pid(): number;
  /** SIGTERM (a clean shutdown), or SIGKILL. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function serverProcess(scheme: string, port: number, command: string, args: string[], cwd: string): ServerProcess {
  let child: ChildProcess | undefined;
  let log = '';
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    async start() {
      log = '';
      const c = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      child = c;
      await waitFor(async () => {
        if (c.exitCode !== null) throw new Error(`${command} exited with ${c.exitCode}: ${log}`);
        return accepts(port);
      }, 10_000, `${command} on port ${port}`);
    },
    pid() {
      if (!child?.pid) throw new Error(`${command} is not running`);
      return child.pid;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill(signal);
      await exited;
    },
  };
}

/** redis-server with the append-only file on (a restart keeps every acknowledged write). */
export async function startRedis(opts: { requirepass?: string } = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dir = tempDir('roadseg-redis-');
  const auth = opts.requirepass ? ['--requirepass', opts.requirepass] : [];
  const server = serverProcess('redis', port, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, ...auth], dir);
  await server.start();
  return server;
}

/** mosquitto; with `user`, only that user and password may connect (a password file made by mosquitto_passwd). */
export async function startMosquitto(opts: { user?: { name: string; password: string } } = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dir = tempDir('roadseg-mosquitto-');
  const conf = join(dir, 'mosquitto.conf');
  let access = 'allow_anonymous true\n';
  if (opts.user) {
    const passwords = join(dir, 'passwords');
    execFileSync('mosquitto_passwd', ['-b', '-c', passwords, opts.user.name, opts.user.password]);
    // Started as root, mosquitto reads it as its own user: the temporary folder is private (0700).
    chmodSync(dir, 0o755);
    chmodSync(passwords, 0o644);
    access = `allow_anonymous false\npassword_file ${passwords}\n`;
  }
  writeFileSync(conf, `listener ${port} 127.0.0.1\n${access}persistence false\nlog_dest stderr\nlog_type error\n`);
  const server = serverProcess('mqtt', port, 'mosquitto', ['-c', conf], dir);
  await server.start();
  return server;
}

/**
 * An MJPEG-over-HTTP stream served by a local ffmpeg from a clip, looping, as an IP camera would;
 * resolved once it listens (seen without connecting: it takes a single client). The caller kills it.
 */
export async function serveMjpeg(port: number, clip: string): Promise<ChildProcess> {
  const server = spawn('ffmpeg', ['-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip, '-an', '-c:v', 'mjpeg', '-q:v', '6', '-f', 'mpjpeg', '-listen', '1', `http://127.0.0.1:${port}/cam.mjpg`], { stdio: 'ignore' });
  await waitFor(() => isListening(port) || server.exitCode !== null, 60_000, 'ffmpeg listening');
  if (server.exitCode !== null) throw new Error(`the MJPEG server exited (${server.exitCode})`);
  return server;
}
