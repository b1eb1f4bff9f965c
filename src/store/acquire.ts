import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from '../rules/digest.js';
import { BatonError, diskFull, ioError, isDiskFull, isIoError } from '../rules/errors.js';
import { breakStaleLock, type HeldLock, holderAlive, LOCK_DIR, type LockOwner, lockHealth, machine, ownerIsLocal, processStart, readLockOwner, STALE_MS, UPDATE_MS } from './lock.js';

// Taking the lock lives apart from lock.ts so that reads (doctor's lock check included) never
// load it: only modules that write import this one.


export interface LockOptions {
  timeoutMs: number;
  /** How old a lock held from another machine must be before it is judged dead. */
  staleMs?: number | undefined;
  /** Another lock of the board, taken the same way (renderlock.ts: the render lock). */
  name?: string;
  /** When the caller began to wait (Date.now()), if before this call: the timeout counts from then. */
  since?: number;
}

export const lostLock = (): BatonError =>
  new BatonError('BOARD_BUSY', 'Lost the board lock before the commit (another process judged this one dead); nothing was written.', {
    hint: 'retry the command',
    details: { lost_lock: true },
  });


/**
 * Makes the lock whole, then puts it in place: a directory `.baton.lock.new-NONCE` holding the
 * owner file and the fence (a directory named by the nonce), renamed to `.baton.lock`. The rename
 * fails while another lock is there, so taking the lock is one atomic step (also on network file
 * systems) and there is never a lock without its owner. Whoever breaks the lock renames the
 * directory, fence and all, away; the holder's commit renames state.json from inside its fence,
 * so it fails once the fence is gone.
 */
function tryTake(boardDir: string, nonce: string, name: string): boolean {
  const staging = join(boardDir, `${name}.new-${nonce}`);
  mkdirSync(staging);
  try {
    mkdirSync(join(staging, `fence-${nonce}`));
    const { host, boot, pidns } = machine();
    const owner = { pid: process.pid, host, boot, pidns, start: processStart(process.pid), at: new Date().toISOString(), nonce };
    writeFileSync(join(staging, 'owner'), JSON.stringify(owner));
    renameSync(staging, join(boardDir, name));
    return true;
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    // Our staging directory was swept away while we were stopped: try again.
    if (code === 'ENOENT' && existsSync(boardDir)) return false;
    throw e;
  }
}

/**
 * What taking and letting go of this lock left behind: staging directories of writers that died
 * between making one and renaming it (older than a minute by the storage's clock, and not a live
 * process's on this machine), and locks renamed aside (`.dead-`) whose removal failed or whose
 * remover died in between. A lock renamed aside is nobody's: its fence no longer guards anything.
 */
function sweepLeftovers(boardDir: string, clockOffsetMs: number | null, name: string): void {
  let names: string[];
  try {
    names = readdirSync(boardDir).filter((n) => n.startsWith(`${name}.new-`) || n.startsWith(`${name}.dead-`));
  } catch {
    return;
  }
  const storageNow = Date.now() - (clockOffsetMs ?? 0);
  for (const n of names) {
    const path = join(boardDir, n);
    if (n.startsWith(`${name}.dead-`)) {
      try {
        rmSync(path, { recursive: true, force: true });
      } catch {
        /* its remover is at it too, or it can't be removed: doctor names it */
      }
      continue;
    }
    try {
      if (storageNow - statSync(path).mtimeMs <= 60_000) continue;
      const owner = JSON.parse(readFileSync(join(path, 'owner'), 'utf8')) as LockOwner;
      if (ownerIsLocal(owner) && holderAlive(owner)) continue;
    } catch {
      /* no owner file yet: its maker died right after making it, or it is gone meanwhile */
    }
    rmSync(path, { recursive: true, force: true });
  }
}

export async function acquireLock(boardDir: string, opts: LockOptions): Promise<HeldLock> {
  const { timeoutMs } = opts;
  const staleMs = opts.staleMs ?? STALE_MS;
  const name = opts.name ?? LOCK_DIR;
  const lockDir = join(boardDir, name);
  const deadline = (opts.since ?? Date.now()) + timeoutMs;
  let delay = 2;
  for (;;) {
    const nonce = randomBytes(8).toString('hex');
    let took: boolean;
    try {
      took = tryTake(boardDir, nonce, name);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new BatonError('NO_BOARD', `The board directory ${boardDir} disappeared.`, { hint: 'baton init' });
      if (isDiskFull(e)) throw diskFull(e);
      if (isIoError(e)) throw ioError(e);
      throw e;
    }
    if (took) return held(boardDir, lockDir, nonce, name);
    if (lockHealth(boardDir, staleMs, Date.now(), name) === 'stale' && breakStaleLock(boardDir, staleMs, name)) continue;
    if (Date.now() >= deadline) throw busy(boardDir, timeoutMs, name);
    await sleep(Math.min(delay + Math.random() * delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 1.5, 50);
  }
}

function held(boardDir: string, lockDir: string, nonce: string, name: string): HeldLock {
  const fence = join(lockDir, `fence-${nonce}`);
  const takenAt = Date.now();
  let storageOffset: number | null = null;
  try {
    storageOffset = takenAt - statSync(fence).mtimeMs;
  } catch {
    storageOffset = null;
  }
  const ours = () => readLockOwner(boardDir, name)?.nonce === nonce && existsSync(fence);
  // The mtime tells machines that cannot see our pid that we are alive.
  const timer = setInterval(() => {
    try {
      if (ours()) utimesSync(lockDir, new Date(), new Date());
    } catch {
      /* a breaker took it: check() says so at the next step */
    }
  }, UPDATE_MS);
  timer.unref();
  sweepLeftovers(boardDir, storageOffset, name);
  return {
    fence,
    nonce,
    clockOffsetMs: storageOffset,
    compromised: () => !ours(),
    check() {
      if (!ours()) throw lostLock();
    },
    async release() {
      clearInterval(timer);
      // Only a lock that is still ours is taken down, and in one rename: a holder whose lock was
      // broken must not remove the lock of whoever holds it now.
      if (!ours()) return;
      const dead = join(boardDir, `${name}.dead-${nonce}`);
      try {
        renameSync(lockDir, dead);
        removeLockDir(dead, nonce);
      } catch {
        /* broken meanwhile, or a leftover `.dead-` directory: the lock is let go either way */
      }
    },
  };
}

/**
 * Removes a lock directory renamed aside: its owner file and fence by name, then itself, which
 * skips a recursive removal's directory walk (loading and running it costs a write about 2 ms,
 * twice: the board lock and the render lock). Anything else found in it is removed recursively.
 */
function removeLockDir(dead: string, nonce: string): void {
  try {
    unlinkSync(join(dead, 'owner'));
    rmdirSync(join(dead, `fence-${nonce}`));
    rmdirSync(dead);
  } catch {
    rmSync(dead, { recursive: true, force: true });
  }
}

function busy(boardDir: string, timeoutMs: number, name: string): BatonError {
  const owner = readLockOwner(boardDir, name);
  const heldMs = owner ? Date.now() - Date.parse(owner.at) : null;
  const heldFor = heldMs !== null && Number.isFinite(heldMs) ? `, holding it for ${Math.max(0, Math.round(heldMs / 1000))}s` : '';
  return new BatonError(
    'BOARD_BUSY',
    `The board${name === LOCK_DIR ? '' : `'s ${name} lock`} is locked by another ${name === LOCK_DIR ? 'writer' : 'process'}${owner ? ` (pid ${owner.pid} on ${owner.host}${heldFor})` : ''}; gave up after ${Math.round(timeoutMs / 100) / 10}s.`,
    {
      hint: 'retry, or raise --lock-timeout; a live holder on this machine is never broken (`baton doctor` names it)',
      details: { holder: owner ? { pid: owner.pid, host: owner.host, since: owner.at, held_ms: heldMs } : null },
    },
  );
}
