import { defineConfig } from 'vitest/config';

/** The fast tier: pure logic and the graph driven by fakes; no model, no OpenCV, no servers. */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 10_000,
    reporters: ['default'],
  },
});
