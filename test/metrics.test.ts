// /metrics and /healthz on the --serve server and on a metrics-only server, against a real looping pipeline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsSink } from '../src/sinks/metrics.js';
import { parseServerSinkUri } from '../src/core/uri.js';
import { parsePrometheus } from './helpers/prometheus.js';
import { connectClient, servePipeline, until, type Served } from './helpers/ws-client.js';

const token = 'metrics-token';
const auth = { Authorization: `Bearer ${token}` };

describe('live metrics', () => {
  let served: Served;
  let metricsPort: number;

  beforeAll(async () => {
    served = await servePipeline({ sinks: ['ws://127.0.0.1:0', 'metrics://127.0.0.1:0'], serve: { token } });
    const metrics = served.handle.sinks.find((s): s is MetricsSink => s instanceof MetricsSink)!;
    metricsPort = (await metrics.listening).port;
    await until('frames flowing', () => served.handle.stats.framesOut >= 5, 60_000);
  });

  afterAll(async () => {
    served?.handle.stop();
    await served?.running;
  });

  it('GET /metrics is the Prometheus text format with the pipeline counters, per-stage histograms and the road values', async () => {
    const client = connectClient(`${served.url}?token=${token}`);
    await client.hello;
    for (const port of [served.port, metricsPort]) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const m = parsePrometheus(await res.text());
      expect(m.types.get('roadseg_frames_total')).toBe('counter');
      expect(m.value('roadseg_frames_total')).toBeGreaterThanOrEqual(5);
      expect(m.types.get('roadseg_dropped_frames_total')).toBe('counter');
      expect(m.value('roadseg_fps')).toBeGreaterThan(0);
      expect(m.types.get('roadseg_stage_latency_seconds')).toBe('histogram');
      for (const stage of ['preprocess', 'infer', 'analyse', 'render', 'total']) {
        const count = m.value('roadseg_stage_latency_seconds_count', { stage })!;
        expect(count).toBeGreaterThan(0);
        expect(m.value('roadseg_stage_latency_seconds_bucket', { stage, le: '+Inf' })).toBe(count);
        const buckets = m.samples.filter((s) => s.name === 'roadseg_stage_latency_seconds_bucket' && s.labels.stage === stage).map((s) => s.value);
        expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
      }
      const source = { source: served.handle.context.stream.sourceId };
      expect(m.value('roadseg_source_frames_total', source)).toBeGreaterThanOrEqual(5);
      const corridor = m.value('roadseg_ego_corridor_percent', source)!;
      expect(corridor).toBeGreaterThanOrEqual(0);
      expect(corridor).toBeLessThanOrEqual(100);
      expect(m.value('roadseg_drivable_percent', source)).toBeGreaterThan(0);
      expect(m.value('roadseg_source_online', source)).toBe(1);
    }
    const viaServe = parsePrometheus(await (await fetch(`http://127.0.0.1:${served.port}/metrics?token=${token}`)).text());
    expect(viaServe.value('roadseg_websocket_clients')).toBeGreaterThanOrEqual(1);
    client.ws.close();
  });

  it('GET /healthz is 200 while frames flow; both need the token when one is set', async () => {
    for (const port of [served.port, metricsPort]) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: auth });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/^ok: frames flowing/);
      for (const path of ['/healthz', '/metrics']) {
        expect((await fetch(`http://127.0.0.1:${port}${path}`)).status).toBe(401);
        expect((await fetch(`http://127.0.0.1:${port}${path}?token=wrong`)).status).toBe(401);
      }
    }
    // The metrics-only server has no viewer and no websocket.
    expect((await fetch(`http://127.0.0.1:${metricsPort}/`)).status).toBe(404);
  });

  it('GET /healthz is 503 before the first frame and without a token rule when none is set', async () => {
    const idle = new MetricsSink(parseServerSinkUri('metrics://127.0.0.1:0', 'metrics'), { requestTimeoutMs: 5000, log: () => {} });
    const { port } = await idle.listening;
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/starting/);
    await idle.close();
  });
});
