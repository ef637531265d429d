/** The typed pipeline configuration: what `--config pipeline.json` holds and the flags map onto. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { deviceChoices } from '../engine/devices.js';
import { precisionChoices } from '../core/model.js';
import { ExitCode, RoadsegError } from '../util/errors.js';

const fraction = z.number().min(0).max(1);

/** One source of a run with several: its URI, and options of its own over the run's. */
export const SourceEntrySchema = z
  .object({
    uri: z.string().min(1),
    /** Unique within the run; default: the file name (made unique with -2, -3, ...), camera0, the stream's address. */
    id: z.string().regex(/^[^\s{}]+$/).optional(),
    realtime: z.boolean().optional(),
    loop: z.boolean().optional(),
    start: z.number().min(0).optional(),
    duration: z.number().positive().optional(),
    stride: z.number().int().min(1).optional(),
    fps: z.number().positive().optional(),
    live: z.boolean().optional(),
  })
  .strict();
export type SourceEntry = z.infer<typeof SourceEntrySchema>;

export const PipelineConfigSchema = z
  .object({
    /** Source URI: video file, image file/folder/glob, camera:N, /dev/videoN, rtsp://, http://, ... */
    source: z.string().min(1).optional(),
    /** Several sources in one run (after `source`, if both are given): URIs or entries with options. */
    sources: z.array(z.union([z.string().min(1), SourceEntrySchema])).default([]),
    /** Frames of different sources inferred in one call, at most (default: the number of sources, up to 8). */
    maxBatch: z.number().int().min(1).max(64).optional(),
    /** How long a frame waits for a batch to fill, ms (nvstreammux's batched-push-timeout). */
    batchTimeout: z.number().min(0).max(10_000).default(20),
    realtime: z.boolean().default(false),
    loop: z.boolean().default(false),
    start: z.number().min(0).optional(),
    duration: z.number().positive().optional(),
    stride: z.number().int().min(1).default(1),
    /** Frame rate of image folders. */
    fps: z.number().positive().default(10),
    /** Override the source's policy: true = freshest frame, false = every frame. */
    live: z.boolean().optional(),
    /** Sink URIs: out.mp4, signal.jsonl (or signal:PATH, - for stdout), window, ws://127.0.0.1:8080. */
    sinks: z.array(z.string().min(1)).default([]),
    model: z.string().optional(),
    /** A second model whose drivable head gives the drivable area, ego corridor and road edges (and lanes). */
    drivableModel: z.string().optional(),
    precision: z.enum(precisionChoices).default('auto'),
    /** Test-time augmentation scales (each also mirrored); off when absent. */
    tta: z.array(z.number().min(0.25).max(4)).min(1).optional(),
    modelsDir: z.string().optional(),
    device: z.enum(deviceChoices).default('auto'),
    threads: z.number().int().min(1).optional(),
    inputHeight: z.number().int().min(17).optional(),
    opacity: fraction.default(0.45),
    hud: z.boolean().default(true),
    corridor: z
      .object({ centerX: fraction, topY: fraction, bottomY: fraction, topWidth: fraction, bottomWidth: fraction })
      .optional(),
    drivableClasses: z.array(z.number().int().min(0).max(254)).optional(),
    /** Frames decoded but not yet through the graph, at most (files). */
    inFlight: z.number().int().min(1).max(16).default(3),
    /** Websocket server options (for ws:// sinks). */
    serve: z
      .object({
        token: z.string().optional(),
        origins: z.array(z.string()).optional(),
        maxMessageBytes: z.number().int().positive().optional(),
        heartbeatMs: z.number().int().positive().optional(),
        jpegQuality: z.number().int().min(1).max(100).optional(),
        classMapScale: z.number().int().min(1).max(16).optional(),
        /** Clients connected at once, at most; more are refused (HTTP 503). */
        maxClients: z.number().int().min(1).max(1000).optional(),
        /** Bytes queued for one client above which its signal and class map messages are dropped. */
        maxBufferedBytes: z.number().int().min(1024).optional(),
      })
      .default({}),
  })
  .strict();

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;

/** Every source of a run as an entry, `source` first; the run's options fill what an entry leaves out. */
export function sourceEntries(config: PipelineConfig): (SourceEntry & Required<Pick<SourceEntry, 'realtime' | 'loop' | 'stride' | 'fps'>>)[] {
  const all = [...(config.source ? [config.source] : []), ...config.sources].map((s) => (typeof s === 'string' ? { uri: s } : s));
  const { realtime, loop, start, duration, stride, fps, live } = config;
  return all.map((e) => ({
    realtime,
    loop,
    stride,
    fps,
    ...(start !== undefined && { start }),
    ...(duration !== undefined && { duration }),
    ...(live !== undefined && { live }),
    ...e,
  }));
}
export type PipelineConfigInput = z.input<typeof PipelineConfigSchema>;

export function parseConfig(input: unknown, where = 'pipeline config'): PipelineConfig {
  const r = PipelineConfigSchema.safeParse(input);
  if (!r.success) throw new RoadsegError(`invalid pipeline config: ${z.prettifyError(r.error)}`, { where, hint: 'see "Pipeline config file" in docs/cli.md', exitCode: ExitCode.usage });
  if (!r.data.source && r.data.sources.length === 0) {
    throw new RoadsegError('no source given', { where, hint: 'roadseg run <video|camera:N|rtsp://...|folder> [sinks...], --source URI (repeatable), or "source"/"sources" in a config file', exitCode: ExitCode.usage });
  }
  return r.data;
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new RoadsegError(`config file not found: ${path}`, { where: resolve(path), exitCode: ExitCode.usage });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new RoadsegError(`config file is not valid JSON: ${(e as Error).message}`, { where: resolve(path), exitCode: ExitCode.usage });
  }
}
