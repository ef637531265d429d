/**
 * The model contract: what a manifest declares about a network (its input, outputs, size rule,
 * classes) and the execution providers it can run on. The engine implements it; stages, sinks and
 * the graph only read it.
 */
import type ndarray from 'ndarray';
import { z } from 'zod';

/** Execution providers roadseg can run a model on. */
export const providers = ['cpu', 'webgpu', 'cuda'] as const;
export type Provider = (typeof providers)[number];

/** A packed model input: [1, height, width, 3] bytes in the model's colour order. */
export type InputTensor = ndarray.NdArray<Uint8Array>;

const rgb = z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)]);

const sizeRule = z.discriminatedUnion('rule', [
  z.object({ rule: z.literal('fixed'), height: z.number().int().positive(), width: z.number().int().positive() }),
  z.object({
    rule: z.literal('dynamic'),
    /** Sizes are `stride * k + offset` (DeepLab: 16k+1). */
    stride: z.number().int().positive(),
    offset: z.number().int().min(0),
    defaultHeight: z.number().int().positive(),
    preferred: z.array(z.tuple([z.number().int(), z.number().int()])),
  }),
]);

export const ModelManifestSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  name: z.string(),
  default: z.boolean().default(false),
  weights: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  input: z.object({
    name: z.string(),
    layout: z.literal('NHWC'),
    dtype: z.literal('uint8'),
    colorOrder: z.enum(['RGB', 'BGR']),
  }),
  size: sizeRule,
  outputs: z.object({
    labels: z.object({ name: z.string(), dtype: z.literal('uint8') }),
    logits: z.object({ name: z.string(), dtype: z.literal('float32'), channels: z.number().int(), stride: z.number().int() }),
  }),
  voidLabel: z.number().int(),
  classes: z.array(z.string()).min(1),
  palette: z.array(rgb),
  licence: z.string(),
  origin: z.string(),
  accuracy: z.object({ metric: z.string(), dataset: z.string(), value: z.number() }),
});

/** A manifest as registered, with the file it was read from. */
export type ModelManifest = z.infer<typeof ModelManifestSchema> & { manifestPath: string };
export type SizeRule = ModelManifest['size'];
