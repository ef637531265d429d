/**
 * The metrics-only server (`metrics://host:port`, `--metrics-port`): `GET /metrics` (Prometheus
 * text format) and `GET /healthz`, for a supervisor, without the viewer or the websocket. Behind
 * the same token rule as the websocket when a token is set. Policy `latest`, and write() never
 * waits: it only counts.
 */
import type { PipelineContext, ProcessedFrame, Sink } from '../core/sink.js';
import type { SignalMessage } from '../core/signal.js';
import type { ServerSinkUri } from '../core/uri.js';
import { AccessRules, HttpEndpoint } from './http-endpoint.js';
import { LiveMetrics } from './live-metrics.js';

export class MetricsSink implements Sink {
  readonly name: string;
  readonly policy = 'latest' as const;
  readonly metrics = new LiveMetrics();
  readonly listening: Promise<{ host: string; port: number }>;
  private readonly endpoint: HttpEndpoint;

  readonly uri: string;

  /** `target`: the `metrics://` URI as src/core/uri.ts parsed it (openSink's, or parseServerSinkUri). */
  constructor(target: ServerSinkUri<'metrics'>, opts: { token?: string | undefined; requestTimeoutMs: number; log?: (line: string) => void }) {
    const { uri, host, port } = target;
    this.uri = uri;
    this.name = `metrics ${uri}`;
    this.log = opts.log ?? ((line: string) => process.stderr.write(`roadseg: ${line}\n`));
    this.endpoint = new HttpEndpoint({ host, port, requestTimeoutMs: opts.requestTimeoutMs, routes: this.metrics.routes(new AccessRules(opts.token)) });
    this.listening = this.endpoint.listening;
  }

  private readonly log: (line: string) => void;

  async open(ctx: PipelineContext): Promise<void> {
    const { shown } = await this.endpoint.bound(this.uri, '--metrics-port');
    this.metrics.open(ctx);
    this.log(`metrics on http://${shown}/metrics (health: http://${shown}/healthz)`);
  }

  write(frame: ProcessedFrame): void {
    this.metrics.frame(frame);
  }

  writeSignal(message: SignalMessage): void {
    this.metrics.signal(message);
  }

  async close(): Promise<void> {
    this.metrics.end();
    await this.endpoint.close();
  }
}
