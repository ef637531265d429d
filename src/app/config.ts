/** The typed pipeline configuration: what `--config pipeline.json` holds and the flags map onto. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { deviceChoices } from '../engine/devices.js';
import { ExitCode, RoadsegError } from '../util/errors.js';

const fraction = z.number().min(0).max(1);

export const PipelineConfigSchema = z
  .object({
    /** Source URI: video file, image file/folder/glob, camera:N, /dev/videoN, rtsp://, http://, ... */
    source: z.string().min(1),
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
export type PipelineConfigInput = z.input<typeof PipelineConfigSchema>;

export function parseConfig(input: unknown, where = 'pipeline config'): PipelineConfig {
  const r = PipelineConfigSchema.safeParse(input);
  if (!r.success) throw new RoadsegError(`invalid pipeline config: ${z.prettifyError(r.error)}`, { where, hint: 'see "Pipeline config" in the README', exitCode: ExitCode.usage });
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
