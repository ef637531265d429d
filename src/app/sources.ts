/**
 * Sources chosen by URI-like strings, as jetson-inference's videoSource: a video file, an image
 * file / folder / glob, `camera:N` or `/dev/videoN`, or a network stream (rtsp://, http://, ...).
 */
import { existsSync, statSync } from 'node:fs';
import { ExitCode, RoadsegError } from '../util/errors.js';
import type { FrameSource, SourceOptions } from '../core/source.js';
import { ImageFolderSource } from '../sources/image-folder.js';
import { isImagePath } from '../sources/images.js';
import { openCameraSource, openStreamSource } from '../sources/live.js';
import { openVideoFile } from '../sources/video.js';

const streamSchemes = /^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt):\/\//i;

export function openSource(uri: string, opts: SourceOptions = {}): FrameSource {
  const camera = /^camera:(\d+)$/.exec(uri) ?? /^\/dev\/video(\d+)$/.exec(uri);
  if (camera) return openCameraSource(Number(camera[1]), uri, opts);
  if (streamSchemes.test(uri)) return openStreamSource(uri, opts);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new RoadsegError(`unknown source URI scheme: ${uri}`, {
      hint: 'sources: a video file, an image file/folder/glob, camera:N, /dev/videoN, rtsp://, rtmp://, http(s)://, udp://, tcp://, srt://',
      exitCode: ExitCode.usage,
    });
  }
  if (/[*?]/.test(uri) || (existsSync(uri) && statSync(uri).isDirectory()) || isImagePath(uri)) {
    if (!/[*?]/.test(uri) && !existsSync(uri)) throw new RoadsegError(`input not found: ${uri}`, { hint: 'check the path', exitCode: ExitCode.input });
    return new ImageFolderSource(uri, opts);
  }
  return openVideoFile(uri, opts);
}
