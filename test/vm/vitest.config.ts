import { defineConfig } from 'vitest/config';

/**
 * The VM integration tests (`npm run test:vm`): one lab, brought up once by global-setup.ts and
 * shared by the scenarios, which run one after the other in a set order.
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/vm/**/*.test.ts'],
    globalSetup: ['test/vm/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    sequence: { shuffle: false },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
