/** Live sources: cameras and network streams. They keep the freshest frame (see pipeline/policy). */
import { existsSync } from 'node:fs';
import { ExitCode, RoadsegError } from '../util/errors.js';
import { CaptureSource, openCapture } from './video.js';
import type { SourceOptions } from './source.js';

export function openCameraSource(n: number, uri: string, opts: SourceOptions): CaptureSource {
  const dev = `/dev/video${n}`;
  if (process.platform === 'linux' && !existsSync(dev)) {
    throw new RoadsegError(`camera ${n} not found: ${dev} does not exist`, { where: uri, hint: 'list cameras with `ls /dev/video*`; on a machine without one, replay a file instead', exitCode: ExitCode.input });
  }
  const cap = openCapture(n, `camera ${n}`, 'check that the camera is connected and not in use by another program');
  return new CaptureSource(cap, { sourceId: `camera${n}`, uri, kind: 'camera', live: true }, opts);
}

export function openStreamSource(uri: string, opts: SourceOptions): CaptureSource {
  const cap = openCapture(uri, `stream ${uri}`, 'check that the stream is up and the URL is right (try it with `ffprobe URL`)');
  return new CaptureSource(cap, { sourceId: uri.replace(/^[a-z]+:\/\//i, ''), uri, kind: 'stream', live: true }, opts);
}
