/**
 * The one parser of source and sink URIs, as jetson-inference's videoSource / videoOutput: it
 * classifies a string into a typed descriptor, and the dispatchers (src/app), the websocket sink,
 * `--serve` and the output checks all read that descriptor instead of parsing the string again.
 *
 * Sources: a video file, an image file / folder / glob, `camera:N` or `/dev/videoN`, a network
 * stream (rtsp://, http://, ...). Sinks: a video file (.mp4 .m4v .mov .mkv .avi), a signal file
 * (.jsonl, .ndjson, signal:PATH, or - / signal:- for stdout), `window`, a websocket server
 * (ws://[host]:port), a message broker (mqtt[s]://, redis[s]://).
 */
import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { expandInputs, isGlob } from '../util/glob.js';

export const imageExtensions = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm']);

/**
 * Files, folders (their images, sorted by name) and globs, expanded in the order given. A folder
 * yields only files with image extensions; a file given by name is taken as is (and fails clearly
 * later if it is not an image).
 */
export function expandImageInputs(inputs: readonly string[]): string[] {
  return expandInputs(inputs, { noun: 'images', extensions: imageExtensions, mustExist: false });
}
export const videoExtensions = ['.mp4', '.m4v', '.mov', '.mkv', '.avi'] as const;
/** Video files roadseg reads (FFmpeg through OpenCV): those it writes, and a few more containers. */
export const videoInputExtensions: ReadonlySet<string> = new Set([...videoExtensions, '.webm', '.ts', '.mpg', '.mpeg']);
export const signalExtensions = ['.jsonl', '.ndjson'] as const;
export const streamSchemes = ['rtsp', 'rtsps', 'rtmp', 'http', 'https', 'udp', 'tcp', 'srt'] as const;

/**
 * A source id as part of a file name or topic: without its video file extension (so that
 * `out/{source}.mp4` is `out/drive.mp4`), anything but letters, digits, '.', '_' and '-' as '_'.
 */
const videoSuffix = new RegExp(`(${[...videoInputExtensions].map((e) => e.replace('.', '\\.')).join('|')})$`, 'i');

export function fileSafe(id: string): string {
  return id
    .replace(videoSuffix, '')
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '_');
}

/** A sink URI or output path with `{source}` replaced by one source's id (one output per source). */
export function perSourcePath(template: string, sourceId: string): string {
  return template.replaceAll('{source}', fileSafe(sourceId));
}

/** A path or URI template as each source's: one per source with `{source}` in it, else itself. */
export function eachSourcePath(template: string, sourceIds: readonly string[]): string[] {
  return template.includes('{source}') ? sourceIds.map((id) => perSourcePath(template, id)) : [template];
}

export function isImagePath(path: string): boolean {
  return imageExtensions.has(extname(path).toLowerCase());
}

export type SourceUri =
  | { kind: 'camera'; uri: string; index: number }
  | { kind: 'stream'; uri: string }
  | { kind: 'images'; uri: string; path: string }
  | { kind: 'video'; uri: string; path: string };

export type SinkUri =
  | { kind: 'window'; uri: string }
  /** `path` is '-' for standard output. */
  | { kind: 'signal'; uri: string; path: string }
  | ServerSinkUri<'websocket'>
  | ServerSinkUri<'metrics'>
  /** A message broker: mqtt[s]://HOST:PORT/TOPIC or redis[s]://HOST:PORT/DB?stream=KEY (the sinks parse the rest). */
  | { kind: 'mqtt' | 'redis'; uri: string }
  | { kind: 'video'; uri: string; path: string };

/** A sink that is a server (`ws://` or `metrics://`), parsed: where it listens; the host defaults to loopback, port 0 picks a free port. */
export interface ServerSinkUri<K extends 'websocket' | 'metrics' = 'websocket' | 'metrics'> {
  kind: K;
  uri: string;
  host: string;
  port: number;
}

const anyScheme = /^[a-z][a-z0-9+.-]*:\/\//i;
const sourceHint = `sources: a video file, an image file/folder/glob, camera:N, /dev/videoN, ${streamSchemes.map((s) => `${s}://`).join(', ')}`;
const sinkHint = 'sinks: out.mp4 (.m4v .mov .mkv .avi), signal.jsonl, signal:PATH, - (stdout), window, ws://127.0.0.1:PORT, mqtt://HOST:PORT/TOPIC, redis://HOST:PORT/DB?stream=KEY';
const websocketHint = 'use ws://HOST:PORT, e.g. ws://127.0.0.1:8080 (ws://0.0.0.0:8080 for every interface, port 0 for any free port)';

export function parseSourceUri(uri: string): SourceUri {
  const camera = /^camera:(\d+)$/.exec(uri) ?? /^\/dev\/video(\d+)$/.exec(uri);
  if (camera) return { kind: 'camera', uri, index: Number(camera[1]) };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)?.[1]?.toLowerCase();
  if (scheme && (streamSchemes as readonly string[]).includes(scheme)) return { kind: 'stream', uri };
  if (scheme) throw new RoadsegError(`unknown source URI scheme: ${uri}`, { where: 'the source', hint: sourceHint, exitCode: ExitCode.usage });
  if (isGlob(uri) || isImagePath(uri) || (existsSync(uri) && statSync(uri).isDirectory())) return { kind: 'images', uri, path: uri };
  return { kind: 'video', uri, path: uri };
}

export function parseSinkUri(uri: string): SinkUri {
  if (uri === 'window' || uri === 'display://') return { kind: 'window', uri };
  if (uri === '-') return { kind: 'signal', uri, path: '-' };
  if (uri.startsWith('signal:')) {
    const path = uri.slice('signal:'.length);
    if (!path) throw new RoadsegError('the signal sink has no path: "signal:"', { where: `sink "${uri}"`, hint: 'give signal:PATH, or - for standard output', exitCode: ExitCode.usage });
    return { kind: 'signal', uri, path };
  }
  if (/^ws:\/\//i.test(uri)) return { kind: 'websocket', uri, ...parseServerAddress(uri) };
  if (/^metrics:\/\//i.test(uri)) return { kind: 'metrics', uri, ...parseServerAddress(uri) };
  if (/^mqtts?:\/\//i.test(uri)) return { kind: 'mqtt', uri };
  if (/^rediss?:\/\//i.test(uri)) return { kind: 'redis', uri };
  if (anyScheme.test(uri)) throw new RoadsegError(`unknown sink URI: ${uri}`, { where: `sink "${uri}"`, hint: sinkHint, exitCode: ExitCode.usage });
  const ext = extname(uri).toLowerCase();
  if ((signalExtensions as readonly string[]).includes(ext)) return { kind: 'signal', uri, path: uri };
  if ((videoExtensions as readonly string[]).includes(ext)) return { kind: 'video', uri, path: uri };
  throw new RoadsegError(`unsupported video file type: ${uri}`, { where: `sink "${uri}"`, hint: `use one of ${videoExtensions.join(' ')} for a video, ${signalExtensions.join(' ')} for the signal; ${sinkHint}`, exitCode: ExitCode.usage });
}

/** `ws://host:port` or `metrics://host:port` -> host and port; the host defaults to loopback, port 0 picks a free port. */
function parseServerAddress(uri: string): { host: string; port: number } {
  const m = /^(ws|metrics):\/\/(\[[0-9a-fA-F:.]+\]|[^:/?#[\]]*):(\d{1,5})\/?$/i.exec(uri);
  const port = m ? Number(m[3]) : NaN;
  const what = /^metrics:/i.test(uri) ? 'metrics' : 'websocket';
  if (!m || port > 65535) throw new RoadsegError(`invalid ${what} sink URI: ${uri}`, { where: `sink "${uri}"`, hint: what === 'metrics' ? websocketHint.replaceAll('ws://', 'metrics://') : websocketHint, exitCode: ExitCode.usage });
  return { host: m[2]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
}

/**
 * `--serve` and `--metrics-port` values: `8080`, `:8080`, `0.0.0.0:8080` -> the websocket or
 * metrics sink (loopback unless a host is given).
 */
export function serveSink(spec: string, kind: 'websocket' | 'metrics' = 'websocket'): ServerSinkUri {
  const flag = kind === 'websocket' ? '--serve' : '--metrics-port';
  const m = /^(?:(.*):)?(\d+)$/.exec(spec);
  if (!m) throw new RoadsegError(`${flag} expects [host:]port, got "${spec}"`, { where: flag, hint: `e.g. ${flag} 8080 or ${flag} 0.0.0.0:8080`, exitCode: ExitCode.usage });
  const uri = `${kind === 'websocket' ? 'ws' : 'metrics'}://${m[1] || '127.0.0.1'}:${m[2]}`;
  return { kind, uri, ...parseServerAddress(uri) };
}

/**
 * A server sink URI (`ws://` or `metrics://`) parsed as that kind; anything else is a usage error.
 * For a server sink made from a string (tests, benchmarks): `openSink` hands on the one it parsed.
 */
export function parseServerSinkUri<K extends 'websocket' | 'metrics'>(uri: string, kind: K): ServerSinkUri<K> {
  const parsed = parseSinkUri(uri);
  if (parsed.kind !== kind) throw new RoadsegError(`not a ${kind} sink URI: ${uri}`, { where: `sink "${uri}"`, hint: kind === 'websocket' ? websocketHint : websocketHint.replaceAll('ws://', 'metrics://'), exitCode: ExitCode.usage });
  return parsed as ServerSinkUri<K>;
}

/** Query parameters that carry secrets (an access token in a stream or websocket URL). */
const secretParams = /^(?:password|passwd|pass|pwd|secret|token|access_token|auth|apikey|api_key)$/i;
const masked = '***';

/**
 * Masks the credentials of every URI in `text` (a URI, or a message or log line holding some):
 * the password of `scheme://user:password@host` (a user alone, often a token, is masked whole)
 * and secret query parameters (`?token=...`). Every URI roadseg prints goes through here: error
 * where-lines, logs, sink names in the summary, metrics labels, the websocket hello.
 */
export function redactUri(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"']*)@/gi, (_, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return `${scheme}${colon >= 0 ? `${userinfo.slice(0, colon)}:${masked}` : masked}@`;
    })
    .replace(/([?&])([^=&#\s"']+)=([^&#\s"']*)/g, (all, sep: string, key: string, value: string) => (secretParams.test(decodeURIComponentSafe(key)) && value ? `${sep}${key}=${masked}` : all));
}

/**
 * A network stream's source id: its address without the scheme and without any credentials
 * (`rtsp://admin:pw@10.0.0.9/live` -> `10.0.0.9/live`); the id goes into every signal line, the
 * websocket hello, metrics labels and {source} file names.
 */
export function streamSourceId(uri: string): string {
  return redactUri(uri).replace(/^[a-z][a-z0-9+.-]*:\/\/(?:[^\s/?#"']*@)?/i, '');
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
