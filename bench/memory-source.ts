/**
 * Frames decoded into memory beforehand, served in a loop as a source: the graph's fps without
 * video decoding (`npm run bench -- --in-memory`), for machines where decoding is not what is
 * measured (a GPU machine: pipeline fps over bare inference). Each frame handed out is a copy, as
 * the graph releases the frames it is given.
 */
import { isStale, type Frame, type StreamInfo } from '../src/core/frame.js';
import type { FrameSource } from '../src/core/source.js';
import type { Mat } from '../src/util/cv.js';
import { openSource } from '../src/app/sources.js';

export class DecodedFrames {
  private constructor(
    private readonly images: Mat[],
    private readonly info: StreamInfo,
  ) {}

  /** Decodes up to `count` frames of `uri` now. */
  static async decode(uri: string, count: number): Promise<DecodedFrames> {
    const source = openSource(uri);
    const images: Mat[] = [];
    try {
      while (images.length < count) {
        const f = await source.read();
        if (!f) break;
        if (!isStale(f)) images.push(f.image);
      }
    } finally {
      source.close();
    }
    return new DecodedFrames(images, source.info);
  }

  /** A new source over the frames, from the first (one per run: the graph closes its source). */
  source(): FrameSource {
    const { images } = this;
    const info: StreamInfo = { ...this.info, uri: `memory:${this.info.uri}`, frameCount: undefined };
    let next = 0;
    let closed = false;
    return {
      info,
      read(): Promise<Frame | null> {
        if (closed || images.length === 0) return Promise.resolve(null);
        const index = next++;
        const image = images[index % images.length]!.copy();
        return Promise.resolve({ sourceId: info.sourceId, index, ptsMs: (index * 1000) / info.fps, captureTimeMs: Date.now(), image });
      },
      close() {
        closed = true;
      },
    };
  }

  dispose(): void {
    for (const m of this.images) m.release();
    this.images.length = 0;
  }
}
