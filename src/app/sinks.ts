/** Opens the sink a URI names (classified once, by src/core/uri.ts; the parsed form is handed on, not parsed again). */
import type { Sink } from '../core/sink.js';
import { parseSinkUri, type SinkUri } from '../core/uri.js';
import { ensureXdgRuntimeDir } from '../engine/devices.js';
import { MqttSink } from '../sinks/mqtt.js';
import { RedisStreamSink } from '../sinks/redis-stream.js';
import { SignalSink } from '../sinks/signal.js';
import { VideoFileSink } from '../sinks/video.js';
import type { VideoQuality } from '../sinks/ffmpeg-encoder.js';
import { MetricsSink } from '../sinks/metrics.js';
import { WebSocketSink, type ServeSettings } from '../sinks/websocket.js';
import { WindowSink } from '../sinks/window.js';

export interface SinkDeps {
  /** Asks the pipeline to stop gracefully (a window's q / Esc). */
  stop: () => void;
  /** The reader of standard output went away (`| head`): the stdout signal sink has ended. */
  stdoutClosed: (lines: number) => void;
  serve: ServeSettings;
  /** The overlay's class opacity (the viewer starts with it). */
  opacity: number;
  videoQuality?: VideoQuality;
}

/** `sink`: a sink URI, or one parseSinkUri parsed already (the pipeline's: each URI is parsed once). */
export function openSink(sink: SinkUri | string, deps: SinkDeps): Sink {
  const parsed = typeof sink === 'string' ? parseSinkUri(sink) : sink;
  switch (parsed.kind) {
    case 'window':
      // Else Qt warns on the terminal ("QStandardPaths: XDG_RUNTIME_DIR not set") under xvfb-run, ssh or a service.
      ensureXdgRuntimeDir();
      return new WindowSink(deps.stop);
    case 'signal':
      return new SignalSink(parsed.path, { onReaderGone: deps.stdoutClosed });
    case 'websocket':
      return new WebSocketSink(parsed, { ...deps.serve, opacity: deps.opacity });
    case 'metrics':
      return new MetricsSink(parsed, { token: deps.serve.token, requestTimeoutMs: deps.serve.heartbeatMs });
    case 'mqtt':
      return new MqttSink(parsed.uri);
    case 'redis':
      return new RedisStreamSink(parsed.uri);
    case 'video':
      return new VideoFileSink(parsed.path, deps.videoQuality);
  }
}
