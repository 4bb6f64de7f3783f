import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'tests/**/*.test.tsx'],
    globalSetup: ['tests/setup/build.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Tests spawn real processes and share the machine's two cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
