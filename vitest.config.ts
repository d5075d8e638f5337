import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    typecheck: { enabled: false },
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/flows/**/*.test.ts'], environment: 'node' } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], environment: 'node', testTimeout: 20_000, hookTimeout: 20_000 } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], environment: 'node', testTimeout: 60_000, hookTimeout: 120_000, fileParallelism: false } },
    ],
  },
});
