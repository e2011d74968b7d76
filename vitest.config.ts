import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The VM scenarios share one lab: `npm run test:vm` (test/vm/vitest.config.ts).
    exclude: ['test/vm/**', '**/node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Integration tests start real servers; two workers fit the 2-core machines CI runs on.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
