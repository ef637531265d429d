/** The typed pipeline configuration: what `--config pipeline.json` holds and the flags map onto. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { deviceChoices } from '../engine/devices.js';
import { overlayOpacity, precisionChoices } from '../core/model.js';
import { videoQualities } from '../sinks/ffmpeg-encoder.js';
import { defaultCorridor } from '../stages/drivable.js';
import { defaultStall } from '../core/source.js';
import { ExitCode, RoadsegError, messageOf } from '../util/errors.js';
import { isUtf16 } from '../util/text.js';

const fraction = z.number().min(0).max(1);
/** The most frames a run may hold decoded and not yet through the graph. */
export const maxInFlight = 16;

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
/** A fraction of the image size that names the value it rejects (hood lines, polygon vertices). */
const imageFraction = (what: string) =>
  z.number({ error: (i) => `${what} must be a number, got ${JSON.stringify(i.input)}` }).refine((v) => v >= 0 && v <= 1, { error: (i) => `${what} ${String(i.input)} is outside the image (0..1)` });

/** The hood: 'auto' (estimated from a video), 'off', a line (fraction of the height), or a polygon. */
export const HoodConfigSchema = z.union([
  z.enum(['auto', 'off']),
  imageFraction('hood line'),
  z.object({
    polygon: z
      .array(z.tuple([imageFraction('hood polygon x'), imageFraction('hood polygon y')]))
      .refine((p) => p.length >= 3, { error: (i) => `hood polygon needs at least 3 points, got ${(i.input as unknown[]).length}` }),
  }).strict(),
]);
export type HoodConfig = z.infer<typeof HoodConfigSchema>;

/** Smoothing strength: the weight of the past in the moving average of class probabilities. */
export const maxSmooth = 0.95;

/**
 * Every default of the pipeline and of the commands, in one place: the schema below and the
 * commands' `--help` texts take them from here. (The overlay opacity and the ego corridor are the
 * drawing and analysis kernels' own defaults, referenced, not repeated.)
 */
export const defaults = {
  realtime: false,
  loop: false,
  stride: 1,
  fps: 10,
  device: 'auto',
  opacity: overlayOpacity,
  corridor: defaultCorridor,
  hud: true,
  /** How long a frame waits for a batch of several sources' frames to fill, ms. */
  batchTimeoutMs: 20,
  /** `roadseg segment`'s output folder. */
  segmentOut: 'out/segment',
  serve: {
    /** Client messages are a few dozen bytes (subscribe). */
    maxMessageBytes: 16 * 1024,
    heartbeatMs: 10_000,
    jpegQuality: 80,
    classMapScale: 4,
    maxClients: 64,
    maxBufferedBytes: 1024 * 1024,
  },
  /** A network stream's stall detector: stale after this many frame intervals without a frame, then offline (reconnecting) after this many seconds. */
  stall: defaultStall,
  /** `run`: a status line every this many seconds when standard error is not a terminal. */
  statusIntervalS: 10,
  /** `run` and `report`: the ego corridor counts as blocked below this drivable share, %. */
  blockedBelowPct: 50,
} as const;

/** `text (default: value)`, for `--help`. */
export function withDefault(text: string, value: string | number | boolean): string {
  return `${text} (default: ${value})`;
}

/** Websocket and metrics server options (for ws:// and metrics:// sinks). */
export const ServeSchema = z
  .object({
    token: z.string().optional(),
    origins: z.array(z.string()).default([]),
    maxMessageBytes: z.number().int().positive().default(defaults.serve.maxMessageBytes),
    heartbeatMs: z.number().int().positive().default(defaults.serve.heartbeatMs),
    jpegQuality: z.number().int().min(1).max(100).default(defaults.serve.jpegQuality),
    classMapScale: z.number().int().min(1).max(16).default(defaults.serve.classMapScale),
    /** Clients connected at once, at most; more are refused (HTTP 503). */
    maxClients: z.number().int().min(1).max(1000).default(defaults.serve.maxClients),
    /** Bytes queued for one client above which its signal and class map messages are dropped. */
    maxBufferedBytes: z.number().int().min(1024).default(defaults.serve.maxBufferedBytes),
  })
  .strict();

/** Complete server settings from some of them (the rest are the defaults). */
export function serveSettings(given: z.input<typeof ServeSchema> = {}): z.output<typeof ServeSchema> {
  return ServeSchema.parse(given);
}

export const PipelineConfigSchema = z
  .object({
    /** Source URI: video file, image file/folder/glob, camera:N, /dev/videoN, rtsp://, http://, ... */
    source: z.string().min(1).optional(),
    /** Several sources in one run (after `source`, if both are given): URIs or entries with options. */
    sources: z.array(z.union([z.string().min(1), SourceEntrySchema])).default([]),
    /** Frames of different sources inferred in one call, at most (default: the number of sources, up to 8). */
    maxBatch: z.number().int().min(1).max(64).optional(),
    /** How long a frame waits for a batch to fill, ms (nvstreammux's batched-push-timeout). */
    batchTimeout: z.number().min(0).max(10_000).default(defaults.batchTimeoutMs),
    realtime: z.boolean().default(defaults.realtime),
    loop: z.boolean().default(defaults.loop),
    start: z.number().min(0).optional(),
    duration: z.number().positive().optional(),
    stride: z.number().int().min(1).default(defaults.stride),
    /** Frame rate of image folders. */
    fps: z.number().positive().default(defaults.fps),
    /** Override the source's policy: true = freshest frame, false = every frame. */
    live: z.boolean().optional(),
    /** Sink URIs: out.mp4, signal.jsonl (or signal:PATH, - for stdout), window, ws://127.0.0.1:8080. */
    sinks: z.array(z.string().min(1)).default([]),
    /** x264 settings of video file sinks (docs/performance.md: the cost and size of each). */
    videoQuality: z.enum(videoQualities).default('fast'),
    model: z.string().optional(),
    /** A second model whose drivable head gives the drivable area, ego corridor and road edges (and lanes). */
    drivableModel: z.string().optional(),
    precision: z.enum(precisionChoices).default('auto'),
    /** Test-time augmentation scales (each also mirrored); off when absent. */
    tta: z.array(z.number().min(0.25).max(4)).min(1).optional(),
    modelsDir: z.string().optional(),
    device: z.enum(deviceChoices).default(defaults.device),
    threads: z.number().int().min(1).optional(),
    inputHeight: z.number().int().min(17).optional(),
    opacity: fraction.default(defaults.opacity),
    hud: z.boolean().default(defaults.hud),
    corridor: z
      .object({ centerX: fraction, topY: fraction, bottomY: fraction, topWidth: fraction, bottomWidth: fraction })
      .optional(),
    drivableClasses: z.array(z.number().int().min(0).max(254)).optional(),
    /** The vehicle's hood; default 'auto' for videos and cameras, 'off' for still images. */
    hood: HoodConfigSchema.optional(),
    /** Temporal smoothing strength 0 (off) .. 0.95; default 0.6 for videos and cameras, off for still images. */
    smooth: z
      .number()
      .refine((v) => v >= 0 && v <= maxSmooth, { error: (i) => `smooth ${String(i.input)} is outside 0..${maxSmooth}` })
      .optional(),
    /** Below this confidence (0..1) the signal's status is 'low-confidence'. */
    lowConfidence: fraction.default(0.5),
    /** Column bands of the free-space boundary. */
    freeSpaceColumns: z.number().int().min(1).max(1024).default(32),
    /** Frames decoded but not yet through the graph, at most; default by policy: `defaultInFlight`. */
    inFlight: z.number().int().min(1).max(maxInFlight).optional(),
    /** Websocket and metrics server options (for ws:// and metrics:// sinks). */
    serve: ServeSchema.default(() => serveSettings()),
    /** Network streams: when no frame for a while marks the source stale, and when it is given up as offline and reconnected. */
    stall: z
      .object({
        staleAfterFrames: z.number().int().min(1).max(10_000).default(defaults.stall.staleAfterFrames),
        offlineAfterS: z.number().positive().max(3600).default(defaults.stall.offlineAfterS),
      })
      .strict()
      .default(() => ({ ...defaults.stall })),
  })
  .strict();

/**
 * Frames in flight when the config gives none (docs/performance.md has the measurements). Lossless
 * (files): enough to keep decoding, inference and encoding overlapping, for throughput. Freshest
 * (live): one, as each frame in flight beyond the one being inferred only waits, and adds its wait
 * to the latency of every frame.
 */
export const defaultInFlight = { lossless: 3, freshest: 1 } as const;

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;

/** Every source of a run as an entry, `source` first; the run's options fill what an entry leaves out. */
export function sourceEntries(config: PipelineConfig): (SourceEntry & Required<Pick<SourceEntry, 'realtime' | 'loop' | 'stride' | 'fps'>> & { stall: PipelineConfig['stall'] })[] {
  const all = [...(config.source ? [config.source] : []), ...config.sources].map((s) => (typeof s === 'string' ? { uri: s } : s));
  const { realtime, loop, start, duration, stride, fps, live, stall } = config;
  return all.map((e) => ({
    stall,
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

const configHint = 'each key and its type are listed under "Pipeline config file" in docs/cli.md';

export function parseConfig(input: unknown, where = 'pipeline config'): PipelineConfig {
  const r = PipelineConfigSchema.safeParse(input);
  if (!r.success) throw new RoadsegError(`invalid pipeline config: ${z.prettifyError(r.error)}`, { where, hint: configHint, exitCode: ExitCode.usage });
  if (!r.data.source && r.data.sources.length === 0) {
    throw new RoadsegError('no source given', { where, hint: 'roadseg run <video|camera:N|rtsp://...|folder> [sinks...], --source URI (repeatable), or "source"/"sources" in a config file', exitCode: ExitCode.usage });
  }
  return r.data;
}

/**
 * Reads a config file: a JSON object (a UTF-8 byte-order mark is accepted), each key checked
 * against the schema here, so a wrong shape is named by its key and expected type before flags
 * are merged into it.
 */
export function readConfigFile(path: string): Record<string, unknown> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new RoadsegError(`cannot read the config file ${path}: ${messageOf(e)}`, { where: resolve(path), hint: 'check the path given to --config', exitCode: ExitCode.usage });
  }
  // Windows editors save "Unicode" as UTF-16: read as UTF-8, its NUL bytes would reach the JSON message.
  if (isUtf16(bytes)) throw new RoadsegError('the config file is UTF-16, not UTF-8', { where: resolve(path), hint: 'save it as UTF-8 (in Notepad: Save As, Encoding: UTF-8)', exitCode: ExitCode.usage });
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new RoadsegError(`config file is not valid JSON: ${messageOf(e)}`, { where: resolve(path), hint: 'a pipeline config is one JSON object, e.g. {"source": "clip.mp4", "sinks": ["out.mp4"]}', exitCode: ExitCode.usage });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new RoadsegError(`config file must hold a JSON object, got ${got}`, { where: resolve(path), hint: 'a pipeline config is one JSON object, e.g. {"source": "clip.mp4", "sinks": ["out.mp4"]}', exitCode: ExitCode.usage });
  }
  const r = PipelineConfigSchema.partial().safeParse(value);
  if (!r.success) throw new RoadsegError(`invalid pipeline config: ${z.prettifyError(r.error)}`, { where: resolve(path), hint: configHint, exitCode: ExitCode.usage });
  return value as Record<string, unknown>;
}
