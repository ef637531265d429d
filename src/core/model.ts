/**
 * The model contract: what a manifest declares about a network (its input, its heads and their
 * outputs, its size rule, its weight files by precision) and the execution providers it can run
 * on. The engine implements it; stages, sinks and the graph only read it.
 */
import type ndarray from 'ndarray';
import { z } from 'zod';
import type { LabelMap } from './labelmap.js';

/** Execution providers roadseg can run a model on. */
export const providers = ['cpu', 'webgpu', 'cuda'] as const;
export type Provider = (typeof providers)[number];

/** Numeric precisions a network's weights may come in. */
export const precisions = ['fp32', 'int8', 'fp16'] as const;
export type Precision = (typeof precisions)[number];
/** `auto`: int8 on the CPU provider where the model has it, else fp32 (fp16 only when asked for). */
export const precisionChoices = ['auto', ...precisions] as const;
export type PrecisionChoice = (typeof precisionChoices)[number];

/** A packed model input: [N, height, width, 3] bytes in the model's colour order. */
export type InputTensor = ndarray.NdArray<Uint8Array>;

const rgb = z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)]);
const size = z.tuple([z.number().int().positive(), z.number().int().positive()]);

const sizeRule = z.discriminatedUnion('rule', [
  z.object({ rule: z.literal('fixed'), height: z.number().int().positive(), width: z.number().int().positive() }),
  z.object({
    rule: z.literal('dynamic'),
    /** Sides are `stride * k + offset` (DeepLab: 16k+1; EfficientViT: 32k; TwinLiteNet: 8k). */
    stride: z.number().int().positive(),
    offset: z.number().int().min(0),
    defaultHeight: z.number().int().positive(),
    /**
     * Width over height the model was trained at, where it must be kept: frames of another shape
     * are squashed to it (TwinLiteNet: 16:9). Absent: the frame's own aspect ratio is kept.
     */
    aspect: z.number().positive().optional(),
    /** Sizes that suit the model, [height, width]. */
    preferred: z.array(size),
  }),
]);

const weightFile = z.object({
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Providers this file gives right results on; all when absent (int8 QDQ: the CPU only). */
  providers: z.array(z.enum(providers)).min(1).optional(),
  /**
   * `fp32`: roadseg makes this file itself from the verified fp32 file on first use (fp16: every
   * float tensor halved), into its cache folder, and checks the result against `sha256`.
   */
  madeFrom: z.literal('fp32').optional(),
});

const logitsOutput = z.object({
  name: z.string(),
  /** Output pixels per input pixel step: the logits are [N, channels, H/stride, W/stride]. */
  stride: z.number().int().positive(),
  /** How the model's own head upsamples its logits to the input size (for test-time augmentation). */
  upsampling: z.enum(['align-corners', 'half-pixel']),
});

/** A head that names a class per pixel (Cityscapes: 19 trainIds). */
const classHead = z.object({
  /** uint8 [N, H, W] class ids. */
  labels: z.string(),
  /** float32 [N, channels, h, w] raw scores; channels may include a void channel past the classes. */
  logits: logitsOutput.extend({ channels: z.number().int().min(2) }),
  names: z.array(z.string()).min(1),
  palette: z.array(rgb),
  voidLabel: z.number().int(),
});

/** A yes/no head (drivable area, lane line): a uint8 0/1 mask and two-channel logits (channel 1 = yes). */
const binaryHead = z.object({ mask: z.string(), logits: logitsOutput });

export const ModelManifestSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  name: z.string(),
  default: z.boolean().default(false),
  /** The network's weight files by precision; fp32 is required. */
  weights: z.object({ fp32: weightFile, int8: weightFile.optional(), fp16: weightFile.optional() }),
  input: z.object({
    name: z.string(),
    layout: z.literal('NHWC'),
    dtype: z.literal('uint8'),
    colorOrder: z.enum(['RGB', 'BGR']),
  }),
  size: sizeRule,
  heads: z
    .object({ classes: classHead.optional(), drivable: binaryHead.optional(), lanes: binaryHead.optional() })
    .refine((h) => h.classes ?? h.drivable ?? h.lanes, 'a model needs at least one head'),
  licence: z.string(),
  origin: z.string(),
  accuracy: z.object({ metric: z.string(), dataset: z.string(), value: z.number() }),
});

/** A manifest as registered, with the file it was read from. */
export type ModelManifest = z.infer<typeof ModelManifestSchema> & { manifestPath: string };
export type SizeRule = ModelManifest['size'];
export type WeightFile = ModelManifest['weights']['fp32'];

/** One frame packed for inference: per model, one tensor per test-time-augmentation variant. */
export type PackedInput = InputTensor[][];

/** Raw scores of one head for one image: [channels, height, width], row-major. */
export interface HeadScores {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/**
 * What inference yields for one frame, by head. `labels` is always there: the scene model's class
 * ids, or for a model with only binary heads its heads as classes (see `displayClasses`).
 */
export interface FrameHeads {
  labels: LabelMap;
  /** 0/1 drivable area, where a drivable head ran, with the id of the model it came from. */
  drivable?: { mask: LabelMap; model: string };
  /** 0/1 lane lines, where a lanes head ran. */
  lanes?: LabelMap;
  /** The class head's raw scores, when asked for. */
  logits?: HeadScores;
}

/** The classes a processor's label maps use, with their colours. */
export interface DisplayClasses {
  names: string[];
  palette: [number, number, number][];
}

/** Class ids of the label map made for a model with only binary heads (255: neither). */
export const binaryClassIds = { drivable: 0, lanes: 1 } as const;
export const drivableTint: [number, number, number] = [0, 200, 90];
/** How strongly the class colours cover the frame in the overlay, by default. */
export const overlayOpacity = 0.45;
export const laneColour: [number, number, number] = [0, 255, 255];

/** Class names and colours of a model's label maps. */
export function displayClasses(m: ModelManifest): DisplayClasses {
  if (m.heads.classes) return { names: m.heads.classes.names, palette: m.heads.classes.palette };
  return { names: ['drivable', 'lane line'], palette: [drivableTint, laneColour] };
}

/** The channels and stride of a model's largest score output (for the memory an input size needs). */
export function scoresShape(m: ModelManifest): { channels: number; stride: number } {
  const binary = m.heads.drivable ?? m.heads.lanes;
  return m.heads.classes ? m.heads.classes.logits : { channels: 2, stride: binary!.logits.stride };
}
