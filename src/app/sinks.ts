/**
 * Sinks chosen by URI-like strings, as jetson-inference's videoOutput: a video file (.mp4 .mkv
 * .avi .mov), a signal file (.jsonl, .ndjson, signal:PATH, or - for stdout), `window`, a
 * websocket server (ws://[host]:port), a metrics server (metrics://[host]:port), or a message
 * broker (mqtt[s]://HOST:PORT/TOPIC, redis[s]://HOST:PORT/DB?stream=KEY).
 */
import { extname } from 'node:path';
import type { Sink } from '../core/sink.js';
import { ensureXdgRuntimeDir } from '../engine/devices.js';
import { MqttSink } from '../sinks/mqtt.js';
import { RedisStreamSink } from '../sinks/redis-stream.js';
import { SignalSink } from '../sinks/signal.js';
import { VideoFileSink } from '../sinks/video.js';
import type { VideoQuality } from '../sinks/ffmpeg-encoder.js';
import { MetricsSink } from '../sinks/metrics.js';
import { WebSocketSink, type ServeSettings } from '../sinks/websocket.js';
import { WindowSink } from '../sinks/window.js';
import { ExitCode, RoadsegError } from '../util/errors.js';

export interface SinkDeps {
  /** Asks the pipeline to stop gracefully (a window's q / Esc). */
  stop: () => void;
  serve: ServeSettings;
  /** The overlay's class opacity (the viewer starts with it). */
  opacity: number;
  videoQuality?: VideoQuality;
}

export function openSink(uri: string, deps: SinkDeps): Sink {
  if (uri === 'window' || uri === 'display://') {
    // Else Qt warns on the terminal ("QStandardPaths: XDG_RUNTIME_DIR not set") under xvfb-run, ssh or a service.
    ensureXdgRuntimeDir();
    return new WindowSink(deps.stop);
  }
  if (uri === '-' || uri === 'signal:-') return new SignalSink('-');
  if (uri.startsWith('signal:')) return new SignalSink(uri.slice('signal:'.length));
  if (/^mqtts?:\/\//i.test(uri)) return new MqttSink(uri);
  if (/^rediss?:\/\//i.test(uri)) return new RedisStreamSink(uri);
  const ext = extname(uri).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return new SignalSink(uri);
  if (/^ws:\/\//i.test(uri)) return new WebSocketSink(uri, { ...deps.serve, opacity: deps.opacity });
  if (/^metrics:\/\//i.test(uri)) return new MetricsSink(uri, { token: deps.serve.token, requestTimeoutMs: deps.serve.heartbeatMs });
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new RoadsegError(`unknown sink URI: ${uri}`, { hint: 'sinks: out.mp4, signal.jsonl, signal:PATH, -, window, ws://127.0.0.1:PORT, metrics://127.0.0.1:PORT, mqtt://HOST:PORT/TOPIC, redis://HOST:PORT/DB?stream=KEY', exitCode: ExitCode.usage });
  }
  return new VideoFileSink(uri, deps.videoQuality);
}
