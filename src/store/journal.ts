import { appendFileSync, closeSync, mkdirSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { removeKeyRecord } from './idempotency.js';
import { readMarkId } from './reconcile.js';
import { ARCHIVE_IDS } from './archivefiles.js';
import { FILES, type FileStamp, JOURNAL, journalUncommitted, VOID, writeFileAtomic } from './store.js';
import { shardPath } from '../rules/layout.js';

/**
 * The transaction journal: what a writer is about to append, written (fsync) before the first
 * byte goes into events.jsonl and removed once state.json is renamed into place. Crash repair
 * undoes only what a journal proves was this machine's own unfinished transaction; a log and a
 * state that disagree for any other reason (git, a person, another machine put them there) are
 * never truncated, but reconciled keeping every event (reconcile.ts).
 *
 * The name matches the board's `.baton.lock.*` ignore line, so no board ever commits it.
 */
export { JOURNAL };

export interface Journal {
  /** The revision the board had when the transaction began, and the one it would commit. */
  revision_before: number;
  revision_after: number;
  /** state.seq before the transaction: events past it are the transaction's own. */
  base_seq: number;
  /** events.jsonl's size before the append: the point to truncate back to. */
  log_size: number;
  /** Ids of the events the transaction appends. */
  ids: string[];
  /** The transaction's idempotency key: its record goes when the transaction is undone. */
  key?: string | null;
  /**
   * state.json as the transaction read it (size, mtime, inode): while the file is still exactly
   * that one, the transaction did not commit (a commit renames a new file into place).
   */
  base?: FileStamp | null;
  /** state.seq as the transaction read it from state.json (before any reconciliation). */
  read_seq?: number;
  /** The lock nonce of the writer: only it removes its journal after its commit. */
  nonce?: string | null;
  /** The task archive file the transaction appends to (store/archivefiles.ts), its size before, and ids.txt's. */
  archive?: { file: string; size: number; ids_size?: number } | null;
  /** The shards the transaction rewrites (tasks/XX.json), each with its text before (null: it did not exist). */
  shards?: Record<string, string | null>;
  pid: number;
  host: string;
}

/** Written whole (temp file in the lock's fence, fsync, rename) before the first event is appended. */
export function writeJournal(dir: string, j: Omit<Journal, 'pid' | 'host'>, via: string): void {
  writeFileAtomic(join(dir, JOURNAL), JSON.stringify({ ...j, pid: process.pid, host: hostname() }), true, via);
}

/** How big `.baton.lock.void` (store.ts VOID: ids of events that never committed) may grow before its older half goes. */
const VOID_MAX_BYTES = 1 << 20;

function voidIds(dir: string, ids: string[]): void {
  if (!ids.length) return;
  const file = join(dir, VOID);
  try {
    if (statSync(file).size > VOID_MAX_BYTES) {
      // Keep the newer half: a void transaction's stray append comes soon after, never months later.
      const lines = readFileSync(file, 'utf8').split('\n');
      writeFileAtomic(file, `${lines.slice(Math.floor(lines.length / 2)).join('\n')}`);
    }
  } catch {
    /* no file yet */
  }
  try {
    // A leading newline ends whatever a write cut short (a full disk) before these ids.
    appendFileSync(file, `\n${ids.join('\n')}\n`);
  } catch {
    /* a full disk: the ids matter only if a late writer appends them, and the undo goes on */
  }
}

/** Removes the journal; given a nonce, only when it is that writer's (a late writer must not remove another's). */
export function removeJournal(dir: string, nonce?: string): void {
  if (nonce !== undefined) {
    try {
      if ((JSON.parse(readFileSync(join(dir, JOURNAL), 'utf8')) as Journal).nonce !== nonce) return;
    } catch {
      return;
    }
  }
  try {
    unlinkSync(join(dir, JOURNAL));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export const logSize = (dir: string): number => fileSize(join(dir, FILES.events));

/** A file's size, 0 when it is missing. */
export function fileSize(path: string): number {
  try {
    const fd = openSync(path, 'r');
    try {
      return fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

/**
 * Cuts an archive file back to its size before an unfinished transaction, when every line past
 * that point is the transaction's own (its event id): a task the transaction took off the board
 * is still on it, and the archive does not keep a copy the board never let go of.
 */
function cutOwnArchiveLines(path: string, before: number, own: ReadonlySet<string>): boolean {
  const size = fileSize(path);
  if (size <= before) return true;
  const lines = readPast(path, before, size).split('\n');
  lines.pop(); // a torn piece of the transaction's own last line, or ''
  for (const line of lines) {
    const event = stringField(line, 'event');
    if (event === null || !own.has(event)) return false;
  }
  cutBack(path, before);
  return true;
}

/** A JSON line's string field, or null when the line is not JSON or has no such field. */
function stringField(line: string, key: string): string | null {
  try {
    const v = (JSON.parse(line) as Record<string, unknown>)[key];
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Truncates a file back to `size` when it is longer (fsynced). */
function cutBack(path: string, size: number): void {
  if (fileSize(path) <= size) return;
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, size);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The bytes of a file past `from` (the events a journal's writer may have appended). */
function readPast(path: string, from: number, size: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Writes state.json's own text again through a new file: its stamp changes, its content does not. */
function restampState(dir: string): void {
  const path = join(dir, FILES.state);
  writeFileAtomic(path, readFileSync(path, 'utf8'), true);
}

/**
 * Puts back the shards an unfinished transaction rewrote (their texts before it, from its
 * journal): the shard files are written before state.json, the commit point. Returns how many differed.
 */
function restoreShards(dir: string, shards: Journal['shards']): number {
  let restored = 0;
  for (const [s, old] of Object.entries(shards ?? {})) {
    const path = join(dir, shardPath(s));
    let now: string | null;
    try {
      now = readFileSync(path, 'utf8');
    } catch {
      now = null;
    }
    if (now === old) continue;
    restored++;
    if (old === null) unlinkSync(path);
    else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileAtomic(path, old, true);
    }
  }
  return restored;
}

/**
 * Undoes this machine's own interrupted transaction, if a journal proves there was one; call
 * under the board lock with the revision of the state just read. Returns what it did (null: nothing to say).
 * It truncates only when the state is still the one the transaction started from and every
 * byte past the journal's mark is one of the transaction's own events (or a torn piece of one).
 */
export function rollbackJournal(dir: string, state: { revision: number; seq: number }, stateNow: FileStamp | null): string | null {
  const revision = state.revision;
  let text: string;
  try {
    text = readFileSync(join(dir, JOURNAL), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let j: Journal;
  try {
    j = JSON.parse(text) as Journal;
    if (!Array.isArray(j.ids) || typeof j.log_size !== 'number') throw new Error('not a journal');
  } catch {
    removeJournal(dir);
    return 'removed a torn transaction journal (its writer died before appending anything)';
  }
  // Did the transaction commit? The mark (the last event a commit here recorded) being one of its
  // own proves it did. state.json still the very file it read, or a state still at its starting
  // revision and seq (a copy of that file put back by a sync tool or a restore), says it did not:
  // a commit moves both on, and a git merge after a commit moves them further. Anything else (the
  // clean-up of a commit cut short, git changing the state since) leaves everything as it is.
  const ownIds = new Set(j.ids);
  const markId = readMarkId(dir);
  const markedOwn = markId !== null && ownIds.has(markId);
  const isBase = journalUncommitted(j, state, stateNow);
  if (markedOwn || !isBase) {
    removeJournal(dir);
    return revision === j.revision_after || markedOwn ? null : `dropped the journal of a transaction (revision ${j.revision_after}) without undoing anything: the state has changed since`;
  }
  // The transaction did not commit: a keyed one's record goes with it, and its events are void
  // wherever they are or may yet turn up.
  if (j.key) removeKeyRecord(dir, j.key);
  voidIds(dir, j.ids);
  const shards = restoreShards(dir, j.shards);
  // A reader that read a shard before it was put back and the journal after it went must see the
  // board move: state.json is renamed anew (same text), so its stamp changes and the reader reads again.
  if (shards) {
    try {
      restampState(dir);
    } catch {
      /* the storage failing now (a full disk, EIO): the undo goes on; only a reader at this very instant may miss it */
    }
  }
  if (j.archive && cutOwnArchiveLines(join(dir, j.archive.file), j.archive.size, ownIds) && j.archive.ids_size !== undefined) {
    // ids.txt is appended after the archive lines, under the same lock: its tail is this transaction's.
    cutBack(join(dir, ARCHIVE_IDS), j.archive.ids_size);
  }
  const size = logSize(dir);
  if (size <= j.log_size) {
    removeJournal(dir);
    if (shards) return `undid the unfinished transaction of revision ${j.revision_after} (pid ${j.pid} on ${j.host}): put back ${shards} task shard(s) it had rewritten`;
    return size < j.log_size ? `dropped the journal of an unfinished transaction (revision ${j.revision_after}): the log has been replaced since, so nothing was undone` : null;
  }
  const past = readPast(join(dir, FILES.events), j.log_size, size);
  const ids = ownIds;
  const lines = past.split('\n');
  const torn = lines.pop() ?? '';
  let own = 0;
  for (const line of lines) {
    const id = stringField(line, 'id');
    if (id === null || !ids.has(id)) {
      removeJournal(dir);
      return `dropped the journal of an unfinished transaction (revision ${j.revision_after}) without undoing anything: the log past its mark holds events that are not its own`;
    }
    own++;
  }
  if (torn) {
    // An unterminated last piece is the transaction's own only if it is not a whole foreign event.
    try {
      const id = (JSON.parse(torn) as { id?: unknown }).id;
      if (typeof id !== 'string' || !ids.has(id)) {
        removeJournal(dir);
        return `dropped the journal of an unfinished transaction (revision ${j.revision_after}) without undoing anything: the log past its mark holds events that are not its own`;
      }
    } catch {
      /* a torn write of the transaction's own */
    }
  }
  cutBack(join(dir, FILES.events), j.log_size);
  removeJournal(dir);
  return `undid the unfinished transaction of revision ${j.revision_after} (pid ${j.pid} on ${j.host}): removed ${own} event(s)${torn ? ' and a torn line' : ''} it had appended${shards ? ` and put back ${shards} task shard(s) it had rewritten` : ''}`;
}
