import { expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cv } from '../../src/util/cv.js';
import type { SignalMessage } from '../../src/core/signal.js';
import { videos } from './paths.js';
import { assertValidSignal } from './signal-schema.js';

/** Decodes a whole video with OpenCV and returns its frame count and size (throws if unreadable). */
export function readBack(path: string): { frames: number; width: number; height: number } {
  const cap = new cv.VideoCapture(path);
  let frames = 0;
  const width = cap.get(cv.CAP_PROP_FRAME_WIDTH);
  const height = cap.get(cv.CAP_PROP_FRAME_HEIGHT);
  for (let m = cap.read(); !m.empty; m = cap.read()) frames++;
  cap.release();
  return { frames, width, height };
}

export function readSignal(path: string): SignalMessage[] {
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n') || text === '').toBe(true);
  // Every line of every signal file the tests read is checked against the published schema.
  return text.split('\n').filter(Boolean).map((l, i) => {
    const message = JSON.parse(l) as SignalMessage;
    assertValidSignal(message, `${path}:${i + 1}`);
    return message;
  });
}

export function allClips(): string[] {
  return readdirSync(videos).filter((f) => f.endsWith('.mp4')).sort().map((f) => join(videos, f));
}

/**
 * Decodable frame counts (shared/data/MANIFEST.md; the two pr2 clips declare 91 and 116 frames in
 * their containers, but FFmpeg, ffprobe -count_frames included, decodes 88 and 100).
 */
export const clipFrames: Record<string, number> = {
  'derived_camvid_0016E5_15fps_from_labelled_frames.mp4': 101,
  'udacity_lanelines_pr6_custom_me_night_1.mp4': 157,
  'udacity_lanelines_solidWhiteRight.mp4': 221,
  'udacity_vehicledet_pr11_project_video_cut.mp4': 76,
  'udacity_vehicledet_pr2_test_small1.mp4': 88,
  'udacity_vehicledet_pr2_test_small2.mp4': 100,
  'udacity_vehicledet_test_video.mp4': 38,
};
