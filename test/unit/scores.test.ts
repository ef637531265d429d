// The test-time-augmentation kernels: resampling scores as the models' heads do, mirroring, argmax.
import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import type { HeadScores } from '../../src/core/model.js';
import { argmaxScores, flipTensor, resizeScoresInto } from '../../src/stages/scores.js';

const scores = (channels: number, height: number, width: number, values: number[]): HeadScores => ({ data: Float32Array.from(values), channels, height, width });

describe('scores', () => {
  it('resampling to the same size adds the scores unchanged; mirrored, reversed', () => {
    const src = scores(1, 1, 3, [1, 2, 3]);
    const sum = scores(1, 1, 3, [0, 0, 0]);
    resizeScoresInto(src, sum, 'half-pixel', false);
    expect([...sum.data]).toEqual([1, 2, 3]);
    resizeScoresInto(src, sum, 'align-corners', true);
    expect([...sum.data]).toEqual([4, 4, 4]);
  });

  it('align-corners keeps both ends exactly (DeepLab: 16k+1 sizes), half-pixel interpolates between centres', () => {
    const src = scores(1, 1, 2, [0, 16]);
    const corners = scores(1, 1, 5, [0, 0, 0, 0, 0]);
    resizeScoresInto(src, corners, 'align-corners', false);
    expect([...corners.data]).toEqual([0, 4, 8, 12, 16]);
    const centres = scores(1, 1, 4, [0, 0, 0, 0]);
    resizeScoresInto(src, centres, 'half-pixel', false);
    expect([...centres.data]).toEqual([0, 4, 12, 16]);
  });

  it('argmax over channels; channels past the classes are void', () => {
    // 3 channels (2 classes + void), 3 pixels.
    const s = scores(3, 1, 3, [5, 0, 0, /* */ 1, 6, 0, /* */ 0, 0, 7]);
    expect([...argmaxScores(s, 2, 255)]).toEqual([0, 1, 255]);
  });

  it('mirrors a packed input left-right', () => {
    const t = ndarray(Uint8Array.from([1, 2, 3, 4, 5, 6]), [1, 1, 2, 3]);
    expect([...flipTensor(t).data]).toEqual([4, 5, 6, 1, 2, 3]);
  });
});
