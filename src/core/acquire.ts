import { writeFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { BatonError } from './errors.js';
import { breakStaleLock, type HeldLock, LOCK_DIR, lockHealth, readLockOwner, UPDATE_MS } from './lock.js';

// Taking the lock lives apart from lock.ts so that reads (doctor's lock check included)
// never load proper-lockfile: only modules that write import this one.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function acquireLock(boardDir: string, timeoutMs: number): Promise<HeldLock> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  let compromised = false;
  for (;;) {
    try {
      const release = await lockfile.lock(boardDir, {
        lockfilePath: join(boardDir, LOCK_DIR),
        realpath: false,
        stale: Infinity,
        update: UPDATE_MS,
        retries: 0,
        onCompromised: () => {
          compromised = true;
        },
      });
      const ownerPath = join(boardDir, LOCK_DIR, 'owner');
      writeFileSync(ownerPath, JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
      return {
        compromised: () => compromised,
        async release() {
          try {
            unlinkSync(ownerPath);
          } catch {
            /* a breaker removed it */
          }
          try {
            await release();
          } catch {
            /* released or compromised already: nothing left to undo */
          }
        },
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new BatonError('NO_BOARD', `The board directory ${boardDir} disappeared.`, { hint: 'baton init' });
      }
      if (code !== 'ELOCKED') throw e;
    }
    if (lockHealth(boardDir) === 'stale' && breakStaleLock(boardDir)) continue;
    if (Date.now() >= deadline) {
      const owner = readLockOwner(boardDir);
      throw new BatonError(
        'BOARD_BUSY',
        `The board is locked by another writer${owner ? ` (pid ${owner.pid} on ${owner.host})` : ''}; gave up after ${Math.round(timeoutMs / 100) / 10}s.`,
        {
          hint: 'retry, or raise --lock-timeout; `baton doctor` shows a stale lock',
          details: { holder: owner },
        },
      );
    }
    await sleep(Math.min(delay + Math.random() * delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 1.5, 50);
  }
}
