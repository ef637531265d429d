/** Opens the source a URI names (classified once, by src/core/uri.ts; the parsed form is handed on), windowed by start/duration/stride/loop. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExitCode, RoadsegError } from '../util/errors.js';
import type { FrameSource, SourceOptions } from '../core/source.js';
import { parseSourceUri, type SourceUri } from '../core/uri.js';
import { ImageFolderSource } from '../sources/image-folder.js';
import { openCameraSource, openStreamSource } from '../sources/live.js';
import { openVideoFile } from '../sources/video.js';
import { windowed } from '../sources/frame-window.js';

/** `source`: a source URI, or one parseSourceUri parsed already (the pipeline's: each URI is parsed once). */
export function openSource(source: SourceUri | string, opts: SourceOptions = {}): FrameSource {
  const parsed = typeof source === 'string' ? parseSourceUri(source) : source;
  const { uri } = parsed;
  switch (parsed.kind) {
    case 'camera':
      return windowed(openCameraSource(parsed.index, uri), opts);
    case 'stream':
      return windowed(openStreamSource(uri, opts), opts);
    case 'images':
      if (!/[*?]/.test(uri) && !existsSync(uri)) throw new RoadsegError(`input not found: ${uri}`, { where: resolve(uri), hint: 'check the path', exitCode: ExitCode.input });
      return windowed(new ImageFolderSource(parsed.path, opts), opts);
    case 'video':
      return windowed(openVideoFile(parsed.path, opts), opts);
  }
}
