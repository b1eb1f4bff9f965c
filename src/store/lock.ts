import { mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from '../rules/digest.js';

/**
 * The board lock: a directory made whole (owner file and fence inside) and renamed into place,
 * so taking it is atomic, also on network file systems (acquire.ts); its holder refreshes its
 * mtime every second. Two waiters that both judge a lock stale could each remove it and both
 * "win", so a waiter breaks a lock only while holding a second, short-lived break lock, and
 * re-checks staleness under it:
 *  - a holder on this machine (same host name, boot and pid namespace) is judged by its
 *    process alone: while that pid lives and started when the owner file says, the lock is
 *    held, however long it takes (a paused or busy writer keeps it); once it is gone, or the
 *    pid was reused, the lock is broken at once (a SIGKILLed agent blocks others for ms);
 *  - a holder on another machine is judged by the lock's mtime: older than the stale window
 *    (`lock_stale_seconds`, default 10) and it is taken to be dead.
 * Breaking renames the lock directory away, and with it the holder's fence (acquire.ts): a
 * holder that was only paused can then never commit, because its state.json is renamed into
 * place from inside that fence.
 */
export const LOCK_DIR = '.baton.lock';
/** The render lock (renderlock.ts): taken as the board lock is, under its own name. */
export const RENDER_LOCK = '.baton.lock.render';
const BREAK_DIR = '.baton.lock.break';
export const STALE_MS = 10_000;
export const UPDATE_MS = 1_000;
const OWNERLESS_STALE_MS = 3 * UPDATE_MS;

export interface LockOwner {
  pid: number;
  host: string;
  at: string;
  /** The kernel's boot id and pid namespace: a pid means something only inside both. */
  boot?: string | null;
  pidns?: string | null;
  /** The process's start time (clock ticks since boot), so a reused pid is not mistaken. */
  start?: string | null;
  /** Names the holder's fence directory inside the lock. */
  nonce?: string;
}

export interface HeldLock {
  release(): Promise<void>;
  /** True once the lock was taken from under us (broken, or found in another's hands). */
  compromised(): boolean;
  /** The holder's fence directory: state.json is renamed into place from inside it. */
  readonly fence: string;
  /** The nonce that names this holding (its fence, its journal). */
  readonly nonce: string;
  /** Throws BOARD_BUSY when the lock is no longer ours: call before every irreversible step. */
  check(): void;
  /** This clock minus the storage's, read when the lock was taken (clock.ts); null if unknown. */
  readonly clockOffsetMs: number | null;
}

const readOr = (read: () => string): string | null => {
  try {
    return read().trim();
  } catch {
    return null;
  }
};

interface Machine {
  host: string;
  boot: string | null;
  pidns: string | null;
}
let here: Machine | null = null;

/**
 * Where a pid is meaningful: host name, kernel boot and pid namespace (null parts off Linux).
 * Read once, when a lock is first taken or judged: reads never pay for it.
 */
export function machine(): Machine {
  here ??= {
    host: hostname(),
    boot: readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    pidns: readOr(() => readlinkSync('/proc/self/ns/pid')),
  };
  return here;
}

/** A process's start time in clock ticks since boot, null when unknown; 'zombie' for a dead one. */
export function processStart(pid: number): string | null {
  const stat = readOr(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (stat === null) return null;
  // The command name in parentheses may hold spaces: count fields after its closing bracket.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return 'zombie';
  return fields[19] ?? null;
}

export function readLockOwner(boardDir: string, name = LOCK_DIR): LockOwner | null {
  try {
    return JSON.parse(readFileSync(join(boardDir, name, 'owner'), 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the owner's pid can be looked up here (same host, boot and pid namespace). */
export function ownerIsLocal(owner: LockOwner): boolean {
  const m = machine();
  if (owner.host !== m.host) return false;
  // An owner file of an older baton lacks the boot and namespace: the host name decides.
  if (owner.boot != null && m.boot != null && owner.boot !== m.boot) return false;
  if (owner.pidns != null && m.pidns != null && owner.pidns !== m.pidns) return false;
  return true;
}

/** Whether a holder on this machine is still the live process that took the lock. */
export function holderAlive(owner: LockOwner): boolean {
  if (!pidAlive(owner.pid)) return false;
  const start = processStart(owner.pid);
  if (start === 'zombie') return false;
  return owner.start == null || start === null || start === owner.start;
}

export type LockHealth = 'free' | 'held' | 'stale';

/** Whether the lock is free, held by a live writer, or left behind by a dead one. */
export function lockHealth(boardDir: string, staleMs = STALE_MS, now = Date.now(), name = LOCK_DIR): LockHealth {
  let mtime: number;
  try {
    mtime = statSync(join(boardDir, name)).mtimeMs;
  } catch {
    return 'free';
  }
  const owner = readLockOwner(boardDir, name);
  if (owner && ownerIsLocal(owner) && owner.pid !== process.pid) return holderAlive(owner) ? 'held' : 'stale';
  // A lock is put in place with its owner file inside: one without (made by an older baton, or
  // by hand) is taken for dead after a few seconds.
  if (!owner && now - mtime > OWNERLESS_STALE_MS) return 'stale';
  return now - mtime > staleMs ? 'stale' : 'held';
}

/** Removes a stale lock under the break lock; true when something was removed. */
export function breakStaleLock(boardDir: string, staleMs = STALE_MS, name = LOCK_DIR): boolean {
  const breakPath = join(boardDir, name === LOCK_DIR ? BREAK_DIR : `${name}.break`);
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
    if (lockHealth(boardDir, staleMs, Date.now(), name) !== 'stale') return false;
    // Renaming the directory away is atomic for everyone, and takes the holder's fence with it.
    const dead = join(boardDir, `${name}.dead-${randomBytes(4).toString('hex')}`);
    renameSync(join(boardDir, name), dead);
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

/**
 * Directories the board's two locks left behind: locks renamed aside (`.dead-`) that were never
 * removed, and staging directories (`.new-`) older than a minute. Read only (doctor names them);
 * the next holder of that lock removes them.
 */
export function leftoverLockDirs(boardDir: string, now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(boardDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => {
      for (const name of [LOCK_DIR, RENDER_LOCK]) {
        if (n.startsWith(`${name}.dead-`) && !n.slice(name.length + 6).includes('.')) return true;
        if (n.startsWith(`${name}.new-`) && !n.slice(name.length + 5).includes('.')) {
          try {
            return now - statSync(join(boardDir, n)).mtimeMs > 60_000;
          } catch {
            return false;
          }
        }
      }
      return false;
    })
    .sort();
}
