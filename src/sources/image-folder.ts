/** A folder, glob or single image as a stream: frames in name order at a given frame rate. */
import { basename, resolve } from 'node:path';
import type { Frame, StreamInfo } from '../core/frame.js';
import type { SourceOptions } from '../core/source.js';
import { toBgr } from '../stages/preprocess.js';
import type { RewindableSource } from './frame-window.js';
import { expandImageInputs } from '../core/uri.js';
import { readImage } from './images.js';

export class ImageFolderSource implements RewindableSource {
  readonly info: StreamInfo;
  private next = 0;
  private closed = false;
  private readonly files: string[];
  private readonly log: ((line: string) => void) | undefined;

  constructor(uri: string, opts: SourceOptions) {
    this.files = expandImageInputs([uri]);
    this.log = opts.log;
    const fps = opts.fps ?? 10;
    const probe = toBgr(readImage(this.files[0]!, { log: this.log }));
    this.info = { sourceId: basename(uri), uri: resolve(uri), kind: 'images', live: !!opts.realtime, width: probe.cols, height: probe.rows, fps, frameCount: this.files.length };
    probe.release();
  }

  async read(): Promise<Frame | null> {
    if (this.closed || this.next >= this.files.length) return null;
    const index = this.next++;
    // A non-image file in the folder fails here, naming the file.
    const image = toBgr(readImage(this.files[index]!, { log: this.log }));
    return { sourceId: this.info.sourceId, index, ptsMs: (index * 1000) / this.info.fps, captureTimeMs: Date.now(), image };
  }

  rewind(): void {
    this.next = 0;
  }

  close(): void {
    this.closed = true;
  }
}
