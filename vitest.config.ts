import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The OpenCV binding segfaults when loaded in several worker threads, and onnxruntime tensors
    // break under vm isolation: child processes only (see PLATFORM-NOTES).
    pool: 'forks',
    // Two cores: one test file at a time keeps model runs from starving each other.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    reporters: ['default'],
  },
});
