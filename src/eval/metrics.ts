/**
 * Segmentation metrics from a confusion matrix accumulated over a whole data set (the seed's
 * SegmentationMetrics, computed globally rather than averaged per image).
 */
export interface ClassScore {
  id: number;
  name: string;
  /** Ground-truth pixels of this class. */
  support: number;
  iou: number;
  dice: number;
}

export interface MetricsReport {
  pixels: number;
  pixelAccuracy: number;
  /** Over classes present in the ground truth. */
  meanIou: number;
  meanDice: number;
  classes: ClassScore[];
}

export class ConfusionMatrix {
  /** counts[target * (n + 1) + pred]; the extra column holds predictions of no class. */
  readonly counts: Float64Array;

  constructor(readonly classNames: readonly string[], readonly ignoreLabel = 255) {
    this.counts = new Float64Array(classNames.length * (classNames.length + 1));
  }

  update(pred: Uint8Array, target: Uint8Array): void {
    if (pred.length !== target.length) throw new RangeError(`prediction has ${pred.length} pixels, labels ${target.length}`);
    const n = this.classNames.length;
    for (let i = 0; i < target.length; i++) {
      const t = target[i]!;
      if (t === this.ignoreLabel || t >= n) continue;
      const p = pred[i]!;
      this.counts[t * (n + 1) + (p < n ? p : n)]!++;
    }
  }

  report(): MetricsReport {
    const n = this.classNames.length;
    const at = (t: number, p: number) => this.counts[t * (n + 1) + p]!;
    let total = 0;
    let correct = 0;
    const classes: ClassScore[] = [];
    for (let c = 0; c < n; c++) {
      let support = 0;
      let predicted = 0;
      for (let p = 0; p <= n; p++) support += at(c, p);
      for (let t = 0; t < n; t++) predicted += at(t, c);
      const tp = at(c, c);
      total += support;
      correct += tp;
      const union = support + predicted - tp;
      classes.push({
        id: c,
        name: this.classNames[c]!,
        support,
        iou: union > 0 ? tp / union : 0,
        dice: support + predicted > 0 ? (2 * tp) / (support + predicted) : 0,
      });
    }
    const present = classes.filter((s) => s.support > 0);
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    return {
      pixels: total,
      pixelAccuracy: total ? correct / total : 0,
      meanIou: mean(present.map((s) => s.iou)),
      meanDice: mean(present.map((s) => s.dice)),
      classes,
    };
  }
}

export interface BinaryReport {
  pixels: number;
  iou: number;
  precision: number;
  recall: number;
}

/** A yes/no prediction (a drivable head) against a set of target classes (road), ignoring one label. */
export class BinaryCounts {
  tp = 0;
  fp = 0;
  fn = 0;
  pixels = 0;
  private readonly positive = new Uint8Array(256);

  constructor(positiveClasses: readonly number[], readonly ignoreLabel = 255) {
    for (const c of positiveClasses) this.positive[c] = 1;
  }

  /** `pred` is 0/1 per pixel. */
  update(pred: Uint8Array, target: Uint8Array): void {
    if (pred.length !== target.length) throw new RangeError(`prediction has ${pred.length} pixels, labels ${target.length}`);
    for (let i = 0; i < target.length; i++) {
      const t = target[i]!;
      if (t === this.ignoreLabel) continue;
      this.pixels++;
      const yes = this.positive[t]!;
      if (pred[i]) {
        if (yes) this.tp++;
        else this.fp++;
      } else if (yes) this.fn++;
    }
  }

  report(): BinaryReport {
    const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
    return { pixels: this.pixels, iou: ratio(this.tp, this.tp + this.fp + this.fn), precision: ratio(this.tp, this.tp + this.fp), recall: ratio(this.tp, this.tp + this.fn) };
  }
}
