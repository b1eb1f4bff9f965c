import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../rules/digest.js';
import { invalidInput } from '../rules/errors.js';
import { writeFileAtomic } from './store.js';

/**
 * Idempotency keys: `--idempotency-key K` makes a retry of a command whose answer was lost
 * return the first answer instead of doing it again. The record of a keyed transaction (its
 * command and the value it returned) is written inside the transaction, after its journal and
 * before its commit point; undoing the journal removes it. So a record that exists once the
 * journal is settled belongs to a committed transaction: a retry with its key replays it.
 *
 * Records live in `.baton.lock.keys/` (ignored with the lock: local to this board directory, never
 * committed; they may hold a lease token the command printed) and are dropped after a week.
 */
const KEYS_DIR = '.baton.lock.keys';
const KEEP_MS = 7 * 86_400_000;

export interface KeyRecord {
  key: string;
  command: string;
  /** A hash of the command's arguments and the session that ran it: a key replays only that call. */
  call: string;
  session: string | null;
  revision: number;
  at: string;
  value: unknown;
}

export function checkKey(key: string): string {
  if (!/^[A-Za-z0-9._:@/+=-]{1,200}$/.test(key)) {
    throw invalidInput(`Invalid --idempotency-key '${key.slice(0, 40)}': use 1 to 200 letters, digits or . _ : @ / + = -.`, 'e.g. --idempotency-key "$(uuidgen)"');
  }
  return key;
}

const fileOf = (dir: string, key: string) => join(dir, KEYS_DIR, `${sha256(key).slice(0, 40)}.json`);

export function readKeyRecord(dir: string, key: string): KeyRecord | null {
  try {
    const rec = JSON.parse(readFileSync(fileOf(dir, key), 'utf8')) as KeyRecord;
    return rec.key === key ? rec : null;
  } catch {
    return null;
  }
}

/** Written before the commit point, through the lock's fence. */
export function writeKeyRecord(dir: string, rec: KeyRecord, via: string): void {
  mkdirSync(join(dir, KEYS_DIR), { recursive: true });
  writeFileAtomic(fileOf(dir, rec.key), JSON.stringify(rec), true, via);
}

export function removeKeyRecord(dir: string, key: string): void {
  rmSync(fileOf(dir, key), { force: true });
}

/** Drops records older than a week (under the lock, now and then). */
export function pruneKeyRecords(dir: string, nowMs: number): void {
  let names: string[];
  try {
    names = readdirSync(join(dir, KEYS_DIR));
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, KEYS_DIR, n);
    try {
      if (nowMs - statSync(p).mtimeMs > KEEP_MS) rmSync(p, { force: true });
    } catch {
      /* gone meanwhile */
    }
  }
}
