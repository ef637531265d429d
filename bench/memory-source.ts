/**
 * A source of frames decoded into memory beforehand, served in a loop: the graph's fps without
 * video decoding (`npm run bench -- --in-memory`), for machines where decoding is not what is
 * measured (a GPU machine: pipeline fps over bare inference). Each frame handed out is a copy, as
 * the graph releases the frames it is given.
 */
import { isStale, type Frame, type StreamInfo } from '../src/core/frame.js';
import type { FrameSource } from '../src/core/source.js';
import type { Mat } from '../src/util/cv.js';
import { openSource } from '../src/app/sources.js';

export class MemorySource implements FrameSource {
  readonly info: StreamInfo;
  private next = 0;
  private closed = false;

  private constructor(
    private readonly images: Mat[],
    info: StreamInfo,
  ) {
    this.info = { ...info, uri: `memory:${info.uri}`, frameCount: undefined };
  }

  /** Decodes up to `count` frames of `uri` now. */
  static async decode(uri: string, count: number): Promise<MemorySource> {
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
    return new MemorySource(images, source.info);
  }

  read(): Promise<Frame | null> {
    if (this.closed || this.images.length === 0) return Promise.resolve(null);
    const index = this.next++;
    const image = this.images[index % this.images.length]!.copy();
    return Promise.resolve({ sourceId: this.info.sourceId, index, ptsMs: (index * 1000) / this.info.fps, captureTimeMs: Date.now(), image });
  }

  close(): void {
    this.closed = true;
  }

  /** Frees the decoded frames (close only ends the stream, so the frames can serve several runs). */
  dispose(): void {
    for (const m of this.images) m.release();
    this.images.length = 0;
  }
}
