import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest files first, so neither worker is left with one at the end. Vitest orders by the
 * durations it cached on the last run, which a clean clone (CI) does not have: it would order by
 * file size and start the sync file, small but long, last.
 */
// Node 20 reads the certificate bundle NODE_EXTRA_CA_CERTS names at every start-up, before any code
// runs: about 30 ms of CPU a process where it is set (as on the CI machines), over half of a bare
// `node -e 0`. baton makes no TLS connection, and the suite starts some 3,000 processes, so they run
// without it (deleted here, before the workers that start them are forked).
delete process.env.NODE_EXTRA_CA_CERTS;

const SLOWEST = ['sync', 'faults', 'chain', 'agents', 'concurrency', 'orchestration'];
class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = SLOWEST.findIndex((n) => f.moduleId.endsWith(`/${n}.test.ts`));
      return i < 0 ? SLOWEST.length : i;
    };
    return [...(await super.sort(files))].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Two files at a time: much of the suite waits on processes, locks and timers, so the second
    // core has room (about 175 s instead of 320 s one file at a time, on two cores).
    fileParallelism: true,
    maxWorkers: 2,
    sequence: { sequencer: SlowestFirst },
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
