/** Opens the sink a URI names (classified once, by src/core/uri.ts). */
import type { Sink } from '../core/sink.js';
import { parseSinkUri } from '../core/uri.js';
import { MqttSink } from '../sinks/mqtt.js';
import { RedisStreamSink } from '../sinks/redis-stream.js';
import { SignalSink } from '../sinks/signal.js';
import { VideoFileSink } from '../sinks/video.js';
import type { VideoQuality } from '../sinks/ffmpeg-encoder.js';
import { WebSocketSink, type ServeOptions } from '../sinks/websocket.js';
import { WindowSink } from '../sinks/window.js';

export interface SinkDeps {
  /** Asks the pipeline to stop gracefully (a window's q / Esc). */
  stop: () => void;
  /** The reader of standard output went away (`| head`): the stdout signal sink has ended. */
  stdoutClosed: (lines: number) => void;
  serve: ServeOptions;
  videoQuality?: VideoQuality;
}

export function openSink(uri: string, deps: SinkDeps): Sink {
  const parsed = parseSinkUri(uri);
  switch (parsed.kind) {
    case 'window':
      return new WindowSink(deps.stop);
    case 'signal':
      return new SignalSink(parsed.path, { onReaderGone: deps.stdoutClosed });
    case 'websocket':
      return new WebSocketSink(parsed.uri, deps.serve);
    case 'mqtt':
      return new MqttSink(parsed.uri);
    case 'redis':
      return new RedisStreamSink(parsed.uri);
    case 'video':
      return new VideoFileSink(parsed.path, deps.videoQuality);
  }
}
