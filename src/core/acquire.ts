import { existsSync, mkdirSync, rmSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import lockfile from 'proper-lockfile';
import { BatonError, diskFull, isDiskFull } from './errors.js';
import { breakStaleLock, type HeldLock, LOCK_DIR, lockHealth, machine, processStart, readLockOwner, STALE_MS, UPDATE_MS } from './lock.js';
import { writeFileAtomic } from './store.js';

// Taking the lock lives apart from lock.ts so that reads (doctor's lock check included)
// never load proper-lockfile: only modules that write import this one.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LockOptions {
  timeoutMs: number;
  /** How old a lock held from another machine must be before it is judged dead. */
  staleMs?: number | undefined;
}

export const lostLock = (): BatonError =>
  new BatonError('BOARD_BUSY', 'Lost the board lock before the commit (another process judged this one dead); nothing was written.', {
    hint: 'retry the command',
    details: { lost_lock: true },
  });

/**
 * Makes the lock directory's contents: the fence (a directory named by a fresh nonce) and the
 * owner file. Whoever breaks the lock renames the directory, fence and all, away; the holder's
 * commit renames state.json from inside its fence, so it fails once the fence is gone.
 */
function furnish(lockDir: string): { nonce: string; fence: string } {
  const nonce = randomBytes(8).toString('hex');
  const fence = join(lockDir, `fence-${nonce}`);
  mkdirSync(fence);
  const owner = { pid: process.pid, host: machine.host, boot: machine.boot, pidns: machine.pidns, start: processStart(process.pid), at: new Date().toISOString(), nonce };
  writeFileAtomic(join(lockDir, 'owner'), JSON.stringify(owner), false, fence);
  return { nonce, fence };
}

export async function acquireLock(boardDir: string, opts: LockOptions): Promise<HeldLock> {
  const { timeoutMs } = opts;
  const staleMs = opts.staleMs ?? STALE_MS;
  const lockDir = join(boardDir, LOCK_DIR);
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  let compromised = false;
  for (;;) {
    let release: (() => Promise<void>) | null = null;
    try {
      release = await lockfile.lock(boardDir, {
        lockfilePath: lockDir,
        realpath: false,
        stale: Infinity,
        update: UPDATE_MS,
        retries: 0,
        onCompromised: () => {
          compromised = true;
        },
      });
      const { nonce, fence } = furnish(lockDir);
      const ours = () => readLockOwner(boardDir)?.nonce === nonce && existsSync(fence);
      const unlock = release;
      return {
        fence,
        compromised: () => compromised || !ours(),
        check() {
          if (compromised || !ours()) throw lostLock();
        },
        async release() {
          // Only a lock that is still ours is taken apart: a holder whose lock was broken must
          // not remove the lock of whoever holds it now.
          if (!ours()) return;
          try {
            unlinkSync(join(lockDir, 'owner'));
            rmdirSync(fence);
          } catch {
            /* a breaker took it meanwhile */
          }
          try {
            await unlock();
          } catch {
            /* released or compromised already: nothing left to undo */
          }
        },
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (release) {
        // The lock was made but not furnished (a full disk): take it down again, whole.
        try {
          rmSync(lockDir, { recursive: true, force: true });
        } catch {
          /* nothing more to do */
        }
        await release().catch(() => undefined);
        if (isDiskFull(e)) throw diskFull(e);
        throw e;
      }
      if (code === 'ENOENT') {
        throw new BatonError('NO_BOARD', `The board directory ${boardDir} disappeared.`, { hint: 'baton init' });
      }
      if (isDiskFull(e)) throw diskFull(e);
      if (code !== 'ELOCKED') throw e;
    }
    if (lockHealth(boardDir, staleMs) === 'stale' && breakStaleLock(boardDir, staleMs)) continue;
    if (Date.now() >= deadline) throw busy(boardDir, timeoutMs);
    await sleep(Math.min(delay + Math.random() * delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 1.5, 50);
  }
}

function busy(boardDir: string, timeoutMs: number): BatonError {
  const owner = readLockOwner(boardDir);
  const heldMs = owner ? Date.now() - Date.parse(owner.at) : null;
  const held = heldMs !== null && Number.isFinite(heldMs) ? `, holding it for ${Math.max(0, Math.round(heldMs / 1000))}s` : '';
  return new BatonError(
    'BOARD_BUSY',
    `The board is locked by another writer${owner ? ` (pid ${owner.pid} on ${owner.host}${held})` : ''}; gave up after ${Math.round(timeoutMs / 100) / 10}s.`,
    {
      hint: 'retry, or raise --lock-timeout; a live holder on this machine is never broken (`baton doctor` names it)',
      details: { holder: owner ? { pid: owner.pid, host: owner.host, since: owner.at, held_ms: heldMs } : null },
    },
  );
}
