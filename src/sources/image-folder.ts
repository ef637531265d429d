/** A folder, glob or single image as a stream: frames in name order at a given frame rate. */
import { basename, resolve } from 'node:path';
import type { Frame, StreamInfo } from '../core/frame.js';
import { toBgr } from '../stages/preprocess.js';
import { expandImageInputs, readImage } from './images.js';
import type { FrameSource, SourceOptions } from '../core/source.js';

export class ImageFolderSource implements FrameSource {
  readonly info: StreamInfo;
  private next = 0;
  private pass = 0;
  private closed = false;
  private readonly files: string[];
  private readonly first: number;
  private readonly last: number;
  private readonly stride: number;

  constructor(uri: string, private readonly opts: SourceOptions) {
    this.files = expandImageInputs([uri]);
    const fps = opts.fps ?? 10;
    const probe = toBgr(readImage(this.files[0]!));
    this.first = Math.min(this.files.length, Math.round((opts.start ?? 0) * fps));
    this.last = opts.duration !== undefined ? Math.min(this.files.length, this.first + Math.round(opts.duration * fps)) : this.files.length;
    this.stride = opts.stride ?? 1;
    this.next = this.first;
    this.info = { sourceId: basename(uri), uri: resolve(uri), kind: 'images', live: !!opts.realtime, width: probe.cols, height: probe.rows, fps, frameCount: Math.ceil((this.last - this.first) / this.stride) };
  }

  async read(): Promise<Frame | null> {
    if (this.closed) return null;
    if (this.next >= this.last) {
      if (!this.opts.loop || this.last === this.first) return null;
      this.pass++;
      this.next = this.first;
    }
    const i = this.next;
    this.next += this.stride;
    const perPass = this.last - this.first;
    const index = this.pass * perPass + (i - this.first);
    // A non-image file in the folder fails here, naming the file.
    const image = toBgr(readImage(this.files[i]!));
    return { sourceId: this.info.sourceId, index, ptsMs: (index * 1000) / this.info.fps, captureTimeMs: Date.now(), image };
  }

  close(): void {
    this.closed = true;
  }
}
