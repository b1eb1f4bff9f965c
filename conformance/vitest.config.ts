import { defineConfig } from 'vitest/config';

// The conformance suite: baton inside the real clients (conformance/clients, pinned), each driven
// by a scripted model API on 127.0.0.1. Its own run (`npm run conformance`), not part of `npm test`:
// the clients are some 900 MB, installed apart from the project's dependencies.
delete process.env.NODE_EXTRA_CA_CERTS;

export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['*.test.ts'],
    // One client at a time: each is a heavy process tree, and the model scripts wait on it.
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 240_000,
    reporters: ['default', '../test/summary-reporter.ts'],
  },
});
