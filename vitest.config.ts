import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One graphql copy for everything: vite would otherwise pick the ESM build ("module")
    // while Node loads the CJS one for our dependencies ("another module or realm").
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // These are behaviour checks, not timing checks: on a loaded 2-core machine an upstream
    // process can take well over the default second to start.
    expect: { poll: { timeout: 10_000 } },
    reporters: ['default'],
  },
});
