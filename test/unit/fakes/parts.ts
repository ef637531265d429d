/**
 * Fake parts for driving the graph without OpenCV or a model: Mats that count their releases, a
 * source of numbered frames, a processor with configurable delays and failures, and recording sinks.
 */
import ndarray from 'ndarray';
import type { Frame, StaleTick, StreamInfo } from '../../../src/core/frame.js';
import { labelMap } from '../../../src/core/labelmap.js';
import { displayClasses, type FrameHeads, type ModelManifest, type PackedInput } from '../../../src/core/model.js';
import type { FrameProcessor } from '../../../src/core/processor.js';
import type { PipelineContext, ProcessedFrame, Sink, SinkPolicy } from '../../../src/core/sink.js';
import type { SignalMessage } from '../../../src/core/signal.js';
import type { FrameSource } from '../../../src/core/source.js';
import type { Mat } from '../../../src/util/cv.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Counts Mats made and released; a Mat released twice is recorded as an error. */
export class MatLedger {
  made = 0;
  released = 0;
  readonly doubleReleases: string[] = [];

  mat(label: string): Mat {
    this.made++;
    let done = false;
    const fake = {
      rows: 4,
      cols: 4,
      label,
      release: () => {
        if (done) this.doubleReleases.push(label);
        else this.released++;
        done = true;
      },
      get released() {
        return done;
      },
    };
    return fake as unknown as Mat;
  }

  get live(): number {
    return this.made - this.released;
  }
}

export interface FakeSourceOptions {
  frames: number;
  live?: boolean;
  /** ms between frames a live source produces (and per read of a lossless one). */
  intervalMs?: number;
  /** Indices at which a stale tick is delivered instead of a picture. */
  staleAt?: readonly number[];
  /** Index at which read() throws. */
  failAt?: number;
}

export class FakeSource implements FrameSource {
  readonly info: StreamInfo;
  read$ = 0;
  closed = 0;
  private index = 0;

  constructor(private readonly ledger: MatLedger, private readonly opts: FakeSourceOptions, sourceId = 'fake') {
    this.info = { sourceId, uri: `fake://${sourceId}`, kind: opts.live ? 'stream' : 'file', live: !!opts.live, width: 4, height: 4, fps: 25, frameCount: opts.frames };
  }

  async read(): Promise<Frame | StaleTick | null> {
    if (this.opts.intervalMs) await sleep(this.opts.intervalMs);
    else await Promise.resolve();
    if (this.index >= this.opts.frames) return null;
    const index = this.index++;
    if (index === this.opts.failAt) throw new Error(`source broke at ${index}`);
    const meta = { sourceId: this.info.sourceId, index, ptsMs: index * 40, captureTimeMs: Date.now() };
    if (this.opts.staleAt?.includes(index)) return { ...meta, stale: true, state: 'offline', reason: 'source offline' };
    this.read$++;
    return { ...meta, image: this.ledger.mat(`frame ${index}`) };
  }

  close(): void {
    this.closed++;
  }
}

const manifest = {
  id: 'fake-model',
  name: 'fake',
  default: true,
  weights: { fp32: { file: 'fake.onnx', sha256: '0'.repeat(64) } },
  input: { name: 'image', layout: 'NHWC', dtype: 'uint8', colorOrder: 'RGB' },
  size: { rule: 'fixed', height: 2, width: 2 },
  heads: {
    classes: {
      labels: 'labels',
      logits: { name: 'logits', channels: 2, stride: 1, upsampling: 'half-pixel' },
      names: ['road', 'other'],
      palette: [
        [1, 2, 3],
        [4, 5, 6],
      ],
      voidLabel: 255,
    },
  },
  licence: 'none',
  origin: 'test',
  accuracy: { metric: 'none', dataset: 'none', value: 0 },
  manifestPath: '/dev/null',
} satisfies ModelManifest;

export class FakeProcessor implements FrameProcessor {
  readonly manifest: ModelManifest = manifest;
  readonly device = 'cpu' as const;
  readonly classes = displayClasses(manifest);
  readonly origin = { model: manifest.id, device: this.device, precision: 'fp32' as const, drivableSource: manifest.id };
  inferring = 0;
  maxConcurrentInfer = 0;
  /** Sizes of the batches inferred with inferBatch. */
  readonly batches: number[] = [];

  constructor(private readonly ledger: MatLedger, private readonly opts: { inferMs?: number; failInferAt?: number } = {}) {}

  preprocess(image: Mat) {
    return { bgr: image, tensor: [[ndarray(new Uint8Array(12), [1, 2, 2, 3])]] };
  }

  async infer(tensor: PackedInput): Promise<FrameHeads> {
    this.inferring++;
    this.maxConcurrentInfer = Math.max(this.maxConcurrentInfer, this.inferring);
    try {
      await sleep(this.opts.inferMs ?? 0);
      return { labels: labelMap(new Uint8Array(4), 2, 2) };
    } finally {
      this.inferring--;
      void tensor;
    }
  }

  async inferBatch(tensors: readonly PackedInput[]) {
    this.batches.push(tensors.length);
    return Promise.all(tensors.map((t) => this.infer(t)));
  }

  private analysed = 0;

  analyse({ labels }: FrameHeads) {
    const index = this.analysed++;
    if (index === this.opts.failInferAt) throw new Error(`analysis broke on frame ${index}`);
    const summary = {
      drivablePct: 100,
      egoCorridorPct: 100,
      roadEdges: [],
      histogram: { road: 1 },
      hoodY: 1,
      freeSpace: [0, 0],
      confidence: 1,
      camera: { condition: 'ok' as const, luma: 100, sharpness: 500, stillFrames: 0 },
      status: 'ok' as const,
    };
    return {
      analysis: { labels, drivableFraction: 1, egoFraction: 1, histogram: { counts: [4, 0], voidCount: 0, total: 4 }, edges: { edgeMask: new Uint8Array(4), left: new Int32Array(2), right: new Int32Array(2) }, hood: { y: 1, edge: Float32Array.of(1) }, hoodTop: Int32Array.of(2, 2), freeSpace: [0, 0] },
      summary,
    };
  }

  render(bgr: Mat) {
    return this.ledger.mat(`overlay of ${(bgr as unknown as { label: string }).label}`);
  }
}

export class RecordingSink implements Sink {
  readonly frames: number[] = [];
  readonly signals: SignalMessage[] = [];
  opened = 0;
  closed = 0;
  /** Frames whose Mats were already released when the sink saw them. */
  readonly sawReleased: number[] = [];
  private writing = false;
  concurrentWrites = 0;

  constructor(
    readonly name: string,
    readonly policy: SinkPolicy,
    private readonly opts: { writeMs?: number; failAt?: number; carriesSignal?: boolean; onWrite?: (f: ProcessedFrame) => void } = {},
  ) {
    if (opts.carriesSignal) this.writeSignal = (m: SignalMessage) => void this.signals.push(m);
  }

  writeSignal?: (m: SignalMessage) => void;

  open(_ctx: PipelineContext): void {
    this.opened++;
  }

  async write(frame: ProcessedFrame): Promise<void> {
    if (this.writing) this.concurrentWrites++;
    this.writing = true;
    try {
      if ((frame.image as unknown as { released: boolean }).released || (frame.overlay as unknown as { released: boolean }).released) this.sawReleased.push(frame.meta.index);
      if (frame.meta.index === this.opts.failAt) throw new Error(`sink ${this.name} broke on frame ${frame.meta.index}`);
      this.opts.onWrite?.(frame);
      if (this.opts.writeMs) await sleep(this.opts.writeMs);
      if ((frame.image as unknown as { released: boolean }).released) this.sawReleased.push(frame.meta.index);
      this.frames.push(frame.meta.index);
    } finally {
      this.writing = false;
    }
  }

  close(): void {
    this.closed++;
  }

  stats() {
    return { frames: this.frames.length };
  }
}
