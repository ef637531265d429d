import type { SizeRule } from './model.js';

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
