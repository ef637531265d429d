/**
 * The one place that loads the OpenCV binding. It must see its environment variables before it
 * loads (else it looks for its own OpenCV build and throws "No build found"), and its build helper
 * prints "Info:" lines on stdout unless silenced first; hence createRequire after setting both.
 */
import { createRequire } from 'node:module';
import type * as OpenCV from '@u4/opencv4nodejs';

process.env.OPENCV4NODEJS_DISABLE_AUTOBUILD ??= '1';
// Its allocator reports Mat memory to V8, also from libuv threads (readAsync, writeAsync), which
// crashes V8's garbage collector ("Check failed: marking_done_"). Mats are released explicitly
// on the hot path instead.
process.env.OPENCV4NODEJS_DISABLE_EXTERNAL_MEM_TRACKING ??= '1';
process.env.OPENCV_LOG_LEVEL ??= 'ERROR';
process.env.OPENCV_FFMPEG_LOGLEVEL ??= '-8';

const require = createRequire(import.meta.url);
(require('@u4/opencv-build') as { Log: { silence: boolean } }).Log.silence = true;

export const cv: typeof OpenCV.cv = (require('@u4/opencv4nodejs') as { cv: typeof OpenCV.cv }).cv;
export type Mat = OpenCV.Mat;
