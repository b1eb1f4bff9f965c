import { mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * The board lock: a directory made atomically by proper-lockfile (works on network file
 * systems), whose mtime the holder refreshes every second. proper-lockfile's own stale
 * removal is switched off (stale: Infinity) because two waiters that both judge a lock stale
 * can each remove it and both "win". Instead a waiter breaks a lock only while holding a
 * second, short-lived break lock, and re-checks staleness under it:
 *  - the holder recorded in `owner` runs on this host and its pid is gone: broken at once
 *    (a SIGKILLed agent blocks others for milliseconds);
 *  - otherwise, the lock's mtime is older than STALE_MS (holder on another machine died).
 */
export const LOCK_DIR = '.baton.lock';
const BREAK_DIR = '.baton.lock.break';
export const STALE_MS = 10_000;
export const UPDATE_MS = 1_000;
const OWNERLESS_STALE_MS = 3 * UPDATE_MS;

export interface LockOwner {
  pid: number;
  host: string;
  at: string;
}

export interface HeldLock {
  release(): Promise<void>;
  /** True once proper-lockfile noticed the lock was taken from under us. */
  compromised(): boolean;
}

export function readLockOwner(boardDir: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(join(boardDir, LOCK_DIR, 'owner'), 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type LockHealth = 'free' | 'held' | 'stale';

/** Whether the lock is free, held by a live writer, or left behind by a dead one. */
export function lockHealth(boardDir: string, now = Date.now()): LockHealth {
  let mtime: number;
  try {
    mtime = statSync(join(boardDir, LOCK_DIR)).mtimeMs;
  } catch {
    return 'free';
  }
  const owner = readLockOwner(boardDir);
  if (owner && owner.host === hostname() && owner.pid !== process.pid) {
    // On this host the pid says it all: a live holder may be blocked (sync waiting on git, a
    // stopped terminal) longer than the refresh window, and its lock is still its own.
    return pidAlive(owner.pid) ? 'held' : 'stale';
  }
  // A holder writes its owner file right after it makes the lock and refreshes the mtime every
  // second: a lock still without an owner after a few refreshes lost its holder in between.
  if (!owner && now - mtime > OWNERLESS_STALE_MS) return 'stale';
  return now - mtime > STALE_MS ? 'stale' : 'held';
}

/** Removes a stale lock under the break lock; true when something was removed. */
export function breakStaleLock(boardDir: string): boolean {
  const breakPath = join(boardDir, BREAK_DIR);
  try {
    mkdirSync(breakPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // A breaker that died inside this tiny window leaves the break lock behind.
    try {
      if (Date.now() - statSync(breakPath).mtimeMs > STALE_MS) rmSync(breakPath, { recursive: true, force: true });
    } catch {
      /* gone meanwhile */
    }
    return false;
  }
  try {
    if (lockHealth(boardDir) !== 'stale') return false;
    // Rename first so the removal of a non-empty directory is atomic for everyone else.
    const dead = join(boardDir, `${LOCK_DIR}.dead-${randomBytes(4).toString('hex')}`);
    renameSync(join(boardDir, LOCK_DIR), dead);
    rmSync(dead, { recursive: true, force: true });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  } finally {
    try {
      rmdirSync(breakPath);
    } catch {
      /* already gone */
    }
  }
}

