import { ExitCode, RoadsegError } from '../util/errors.js';
import { scoresShape, type ModelManifest, type SizeRule } from './model.js';

export interface InputSize {
  width: number;
  height: number;
}

/** Nearest size of the form stride * k + offset, at least stride + offset. */
export function snapToRule(value: number, stride: number, offset: number): number {
  const k = Math.max(1, Math.round((value - offset) / stride));
  return k * stride + offset;
}

/**
 * The model input size for a frame: fixed-size models take their size (the frame is stretched to
 * it); dynamic ones keep the frame's aspect ratio (or the model's own, where the rule fixes one) at
 * the requested height, both sides snapped to the rule (DeepLab: 16k+1, so 1280x720 at height 513
 * becomes 913x513).
 */
export function inputSize(rule: SizeRule, frameWidth: number, frameHeight: number, height?: number): InputSize {
  if (rule.rule === 'fixed') return { width: rule.width, height: rule.height };
  const h = snapToRule(height ?? rule.defaultHeight, rule.stride, rule.offset);
  const w = snapToRule(h * (rule.aspect ?? frameWidth / frameHeight), rule.stride, rule.offset);
  return { width: w, height: h };
}

/**
 * The largest model input roadseg runs: 4097x4097 (16.8 megapixels, a 4K frame's width at a
 * 2305-pixel height). Far larger sizes do not fail cleanly inside the runtime (a 20000x2 picture
 * at height 513 asks DeepLab for a 5130000x513 input and ends in a segmentation fault), so they
 * are refused before anything runs.
 */
export const maxInputPixels = 4097 * 4097;
/** The longest side --input-height may ask for. */
export const maxInputHeight = 4097;

/** Bytes the model's own tensors take per input pixel: the input, the labels and the logits. */
function tensorBytesPerPixel(logits: { channels: number; stride: number }): number {
  return 3 + 1 + (logits.channels * 4) / (logits.stride * logits.stride);
}

/** Refuses an input size the model cannot run, saying why and what to do. */
export function checkInputSize(size: InputSize, frame: { width: number; height: number }, logits: { channels: number; stride: number }, where: string): void {
  const pixels = size.width * size.height;
  if (pixels <= maxInputPixels) return;
  const gib = (pixels * tensorBytesPerPixel(logits)) / 2 ** 30;
  throw new RoadsegError(
    `a ${frame.width}x${frame.height} picture needs a ${size.width}x${size.height} model input (${(pixels / 1e6).toFixed(1)} megapixels; its tensors alone would take ${gib.toFixed(1)} GiB): more than the ${(maxInputPixels / 1e6).toFixed(1)} megapixels roadseg runs`,
    { where, hint: 'give a smaller --input-height, or crop / scale the input to a less extreme shape', exitCode: ExitCode.input },
  );
}

/**
 * The model input size for a frame, per the manifest's size rule, at `inputHeight` (or the model's
 * own default) times a `--tta` scale; checked as possible (`where` names what is being sized).
 */
export function modelInputSize(manifest: ModelManifest, frame: { width: number; height: number }, inputHeight: number | undefined, scale: number, where: string): InputSize {
  const height = inputHeight ?? (manifest.size.rule === 'dynamic' ? manifest.size.defaultHeight : undefined);
  const size = inputSize(manifest.size, frame.width, frame.height, height === undefined ? undefined : Math.round(height * scale));
  checkInputSize(size, frame, scoresShape(manifest), `${where}${scale !== 1 ? `, --tta scale ${scale}` : ''}`);
  return size;
}
