import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BatonError, diskFull, invalidInput, ioError, isDiskFull, isIoError } from '../rules/errors.js';
import { pruneKeyRecords, readKeyRecord, writeKeyRecord } from './idempotency.js';
import { randomSuffix } from '../rules/ids.js';
import { acquireLock, lostLock } from './acquire.js';
import { breakStaleLock, type HeldLock, lockHealth } from './lock.js';
import { fileSize, logSize, removeJournal, rollbackJournal, writeJournal } from './journal.js';
import { clockWarnings } from '../rules/clock.js';
import { applyReconcile, eventsGitRemoved, refreshMark, type LogEnds, logChangedOutside, QUARANTINE_DIR, logDisagreement, logEnds, planReconcile, type ReconcilePlan, wholeLogProblem, writeMark } from './reconcile.js';
import { pruneEvents } from './retention.js';
import { taskLooksValid } from '../rules/shape.js';
import { createTask } from '../rules/taskmodel.js';
import { indexFinder, type IndexView, wholeFinder } from '../rules/finder.js';
import { indexOff, type IndexedShard, indexView, lineOf, RACY, readTaskIndex, settled, TASK_INDEX, verifyTaskIndex, writeTaskIndex } from './taskindex.js';
import { ALL_SHARDS, shardOf, tasksByShard } from '../rules/layout.js';
import type { BatonEvent, Config, State, Task } from '../rules/types.js';
import {
  appendEvents,
  FILES,
  type FileStamp,
  JOURNAL,
  stampOf,
  leftoverTempFiles,
  type LoadedConfig,
  loadConfig,
  type BoardFiles,
  type LazyBoard,
  planStateWrite,
  readBoardLazily,
  readStateText,
  refreshBoardFiles,
  shardSignature,
  writeConfigCache,
  writeState,
} from './store.js';
import { renderLatest } from './renderlock.js';
import { type Stamp, stampOfFile } from './hotindex.js';
import { ARCHIVE_IDS, appendArchive, archiveFileFor, archiveLine, autoArchive, settleArchive } from './archivefiles.js';
import { pruneTombstones } from '../rules/archiving.js';
import { LAYOUT } from '../rules/layout.js';

/**
 * Milliseconds from a monotonic clock, for the timings. Not `performance.now()`: the first use of
 * the `performance` global loads perf_hooks, about 1.5 ms of every write.
 */
const msNow = (): number => Number(process.hrtime.bigint()) / 1e6;

export interface TxOptions {
  lockTimeoutMs: number;
  /**
   * Told how long the lock took, how long the transaction held it and what it did meanwhile, in
   * milliseconds per phase: read, apply, validate, commit, render (the Markdown), after, and
   * pre_read (the board read while the lock was held by another, part of the wait) (bench;
   * BATON_TIMINGS=1).
   */
  onTiming?: ((t: Timing) => void) | undefined;
  /** Filled by the transaction with its phases (transact hands them to onTiming). */
  phases?: Record<string, number>;
  /**
   * The rules will list every task (the ranking of claim-next): the board is read whole, as without
   * the board index (while waiting for a held lock, then what moved since), and the index is
   * brought up to date from it.
   */
  readsAll?: boolean;
  /** Filled by the transaction with how many shards it had read when its rules were done. */
  shardsRead?: { n?: number };
  expectedRevision?: number | undefined;
  actor?: string | null;
  session?: string | null;
  /** Told what the repair before the transaction did (doctor --repair reports it). */
  onRepaired?: ((done: string[]) => void) | undefined;
  /** Check the whole log, not only its ends, and reconcile on any problem (doctor --repair). */
  thorough?: boolean;
  /**
   * Regenerate the Markdown even when the transaction has nothing to write (git may have changed
   * the state under it, or a generated file by hand), and be told which files changed (doctor --repair).
   */
  onRendered?: ((written: string[]) => void) | undefined;
  /** With a key, a retry of a committed transaction returns its first value (idempotency.ts). */
  idempotency?: { key: string; command: string; call: string; session: string | null } | undefined;
  /** Runs under the lock once the transaction committed, or found nothing to write. */
  afterCommit?: ((state: State, config: Config, lock: HeldLock) => void) | undefined;
}

/** render_ms: the Markdown, regenerated after the lock was released (renderlock.ts). */
/** shards_read: how many task shards the transaction had read when its rules were done (64 for a whole read). */
export type Timing = { lock_wait_ms: number; locked_ms: number; phases?: Record<string, number>; render_ms?: number; shards_read?: number; render_shards_read?: number };

export type { Tx } from '../rules/change.js';
import type { Tx } from '../rules/change.js';

export interface TxResult<R> {
  value: R;
  revision: number;
  /** False when the apply function emitted nothing: nothing was written. */
  changed: boolean;
  /** What failed after the commit point (the change stands): for people, and for doctor. */
  warnings: string[];
  /** True when an idempotency key found this transaction already committed: `value` is its first. */
  replayed?: boolean;
  /** The state this transaction committed and its file's stamp: the render after it needs no re-read. */
  committed?: { state: State; stamp: Stamp } | undefined;
  /** The board index this transaction wrote, by shard (taskindex.ts): the render after it reads through it. */
  index?: ReadonlyMap<string, string> | undefined;
}

function checkExpectedRevision(state: State, expected: number | undefined): void {
  if (expected !== undefined && expected !== state.revision) {
    throw new BatonError(
      'REVISION_CONFLICT',
      `The board is at revision ${state.revision}, not ${expected}: someone changed it since you read it.`,
      { hint: 're-read the board (baton status --json) and retry', details: { expected, actual: state.revision } },
    );
  }
}

interface Prepared {
  /** What the repair did, for people. */
  done: string[];
  /** Set when the log and the state disagree for a reason other than this machine's crash. */
  plan: ReconcilePlan | null;
  /** The live log's two ends, as read before the write. */
  ends: LogEnds;
  /** Whether the log is not as the last write here left it (git, a person): the archive is checked too. */
  outside: boolean;
}

/**
 * Before a write, under the lock: undo this machine's own interrupted transaction (only what
 * its journal proves), remove temp files of interrupted writes, and when the log and the state
 * still disagree, plan a reconciliation that keeps every event (nothing is written here).
 */
function prepareWrite(dir: string, state: State, thorough: boolean | undefined, rolled: string | null): Prepared {
  const done: string[] = [];
  if (rolled) done.push(rolled);
  const temps = leftoverTempFiles(dir);
  for (const t of temps) {
    try {
      unlinkSync(t);
    } catch {
      /* already gone */
    }
  }
  if (temps.length) done.push(`removed ${temps.length} temp file(s) of interrupted writes`);
  const ends = logEnds(dir);
  // The last event written here is not in the log: brought back only when git really lost it
  // (a branch switch loses nothing: the other branch holds it).
  const missing = eventsGitRemoved(dir, ends);
  const restore = missing?.verdict === 'restore' && missing.events.length ? missing : null;
  const gone = restore ? `git took event ${restore.id} and those before it out of the working tree (${restore.why}); brought back from commit ${restore.commit.slice(0, 12)}` : null;
  if (missing?.verdict === 'gone') done.push(`event ${missing.id}, the last this board wrote, is in neither the log nor any commit git has (a change discarded with git checkout -f, git restore or git stash drop, or a log restored by hand)`);
  const outside = logChangedOutside(dir, ends);
  const why = logDisagreement(dir, state, ends) ?? gone ?? (thorough ? wholeLogProblem(dir, state) : outside ? wholeLogProblem(dir, state, true) : null);
  return { done, plan: why ? planReconcile(dir, state, why, restore?.events ?? [], thorough) : null, ends, outside };
}

/** A task the log says was created but the state lacks comes back blocked, for a person to check. */
function restoreTask(tx: Tx, t: ReconcilePlan['missingTasks'][number]): void {
  if (t.git) {
    // Its newest committed version, whole: a git operation took it out of its shard, which a merge never does.
    const task: Task = { ...t.git.task, notes: [...t.git.task.notes, { at: tx.now, author: null, text: `restored from git commit ${t.git.commit.slice(0, 12)}: a git operation had taken it out of its shard` }] };
    tx.state.tasks[t.id] = task;
    tx.touch(task);
    tx.created(task);
    return;
  }
  const task = createTask(tx, { id: t.id, title: t.title, status: 'blocked' });
  task.created_at = t.at < tx.now ? t.at : tx.now;
  const reason = 'restored from the event log: a git operation had dropped it from state.json; check its fields, then baton unblock';
  task.blocked = { reason, previous: 'todo', at: tx.now };
  task.notes.push({ at: tx.now, author: null, text: reason });
}

/** The first, instant try for the lock: null when another holds it; any other failure is thrown as it is. */
function heldByAnother(e: unknown): null {
  if (e instanceof BatonError && e.code === 'BOARD_BUSY' && !e.details?.lost_lock) return null;
  throw e;
}

export async function withLock<R>(dir: string, timeoutMs: number, fn: (lock: HeldLock) => Promise<R> | R): Promise<R> {
  const { config } = await loadConfig(dir);
  const lock = await acquireLock(dir, { timeoutMs, staleMs: config.lock_stale_seconds * 1000 });
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

export async function transact<R>(dir: string, opts: TxOptions, apply: (tx: Tx) => R): Promise<TxResult<R>> {
  const loaded = await loadConfig(dir);
  const asked = msNow();
  const staleMs = loaded.config.lock_stale_seconds * 1000;
  // A free lock is taken at once. A held one is waited for with the board read meanwhile, so that
  // under the lock only the files the writers before it changed are read again (SPEC §13: the
  // lock covers the transaction and nothing else). doctor --repair reads everything under it.
  // The read is skipped when the wait may be shorter than it (--lock-timeout under a second).
  const since = Date.now();
  // With the board index, the writer reads only a few shards under the lock: nothing to read first.
  const readFirst = !opts.thorough && opts.lockTimeoutMs >= 1000 && (opts.readsAll || indexOff() || !existsSync(join(dir, TASK_INDEX)));
  let lock = readFirst ? await acquireLock(dir, { timeoutMs: 0, staleMs }).catch(heldByAnother) : null;
  let pre: BoardFiles | null = null;
  const phases: Record<string, number> = {};
  const shardsRead: { n?: number } = {};
  if (!lock) {
    if (readFirst) {
      // Any failure of this read (a commit mid-way, a broken file) is met again, and reported, under the lock.
      pre = await readStateText(dir).catch(() => null);
      phases.pre_read = msNow() - asked;
    }
    lock = await acquireLock(dir, { timeoutMs: opts.lockTimeoutMs, staleMs, since });
  }
  const got = msNow();
  let result: TxResult<R>;
  let locked = 0;
  try {
    result = await transactHeld(dir, lock, loaded, { ...opts, phases, shardsRead }, apply, pre);
  } catch (e) {
    opts.onTiming?.({ lock_wait_ms: got - asked, locked_ms: msNow() - got, phases });
    throw e;
  } finally {
    await lock.release();
    locked = msNow() - got;
  }
  // The Markdown, with the board lock free: other writers commit meanwhile, and the newest render wins.
  const started = msNow();
  // The stamps of the shards this commit left, taken now: a writer that commits meanwhile renames
  // a new state.json, so the render then reads the board again instead of trusting them.
  if (result.committed) result.committed.stamp.shards = shardSignature(dir);
  // A replayed keyed write renders too: its first run may have been killed before its render.
  let renderRead: number | undefined;
  if (result.changed || result.replayed || opts.onRendered) {
    try {
      const r = await renderLatest(dir, opts.lockTimeoutMs, opts.onRendered !== undefined, result.committed, result.index);
      renderRead = r.shardsRead;
      opts.onRendered?.(r.written);
    } catch (e) {
      result.warnings.push(`regenerating the Markdown failed (${(e as Error).message}); the change is committed. Next: free the cause, then \`baton render\` (or \`baton doctor --repair\`).`);
    }
  }
  opts.onTiming?.({ lock_wait_ms: got - asked, locked_ms: locked, phases, render_ms: msNow() - started, ...(shardsRead.n === undefined ? {} : { shards_read: shardsRead.n }), ...(renderRead === undefined ? {} : { render_shards_read: renderRead }) });
  return result;
}

/**
 * A transaction for a caller that already holds the board lock (sync holds it across git). It
 * leaves the Markdown to the caller: renderLatest, once the lock is free or while it is held.
 * Its phases, in order, each a function below: read the board and repair what a crash or git
 * left (readBoard); answer a replayed key (replayed); check the revision; open the change
 * (openChange) and put the repair in it (repairInChange); apply the rules (applyChange);
 * validate; commit (commitChange); and the work after the commit point (afterCommitPoint).
 */
export async function transactHeld<R>(dir: string, lock: HeldLock, loaded: LoadedConfig, opts: TxOptions, apply: (tx: Tx) => R, pre: BoardFiles | null = null): Promise<TxResult<R>> {
  const phase = phaseClock(opts.phases);
  const board = await readBoard(dir, opts, pre);
  const replay = replayed<R>(dir, opts.idempotency);
  if (replay) return replay;
  checkExpectedRevision(board.state, opts.expectedRevision);
  const change = openChange(board, loaded.config, lock, opts);
  repairInChange(dir, board, change, opts);
  phase('read');
  const value = applyChange(change, apply);
  // A board in layout 1 is upgraded by its first write, and by doctor --repair (which writes for it).
  if (board.files.layout === 1 && (change.events.length || opts.thorough)) change.tx.emit({ type: 'board.upgraded', actor: null, session: null, data: { from: 1, to: LAYOUT } });
  phase('apply');
  if (opts.shardsRead) opts.shardsRead.n = board.indexed ? board.indexed.lazy.files.parsed.size : board.files.shards.size;
  if (change.events.length === 0) return leaveUnchanged(dir, board, change, lock, opts, value);
  validateChange(change);
  phase('validate');
  const written = commitChange(dir, lock, board, change, opts, value);
  phase('commit');
  const { stamp, index } = afterCommitPoint(dir, lock, loaded, board, change, written, opts);
  phase('after');
  // A board read lazily is not whole: the render after the lock reads it through the index just written.
  return { value, revision: change.revision, changed: true, warnings: change.warnings, committed: stamp && !board.indexed ? { state: board.state, stamp } : undefined, index: index ?? undefined };
}

/** Adds each phase's milliseconds to `phases` (bench, BATON_TIMINGS=1), timed from the last call. */
function phaseClock(phases: Record<string, number> | undefined): (name: string) => void {
  let mark = msNow();
  return (name) => {
    const at = msNow();
    if (phases) phases[name] = (phases[name] ?? 0) + (at - mark);
    mark = at;
  };
}

/** The board as this transaction read it, under the lock, with what the repair before it found. */
interface Board extends Prepared {
  state: State;
  /** The files as read: a write rewrites only the shards of the tasks it touched. */
  files: BoardFiles;
  /** state.json's stamp as read, for the journal. */
  base: FileStamp | null;
  /** The revision and seq as read, for a rollback. */
  read: { revision: number; seq: number };
  /** With the board index: the board read lazily, the index as read and its entries (null: read whole). */
  indexed: Indexed | null;
}

interface Indexed {
  lazy: LazyBoard;
  index: ReadonlyMap<string, IndexedShard>;
  view: IndexView;
}

/**
 * The board read lazily through the board index (taskindex.ts), under the lock, no journal there;
 * null when there is no index or the board can't be read so (the caller reads it whole).
 */
async function readIndexed(dir: string): Promise<Indexed | null> {
  const index = readTaskIndex(dir);
  if (!index) return null;
  const lazy = await readBoardLazily(dir, new Map([...index].map(([s, x]) => [s, x.stamp])));
  if (!lazy) return null;
  const view = indexView(index, lazy.fresh, (s) => Object.values(lazy.files.parsed.get(s) ?? {}));
  return view ? { lazy, index, view } : null;
}

/**
 * Records the board index, under the lock, after a commit (`written`: the shards it wrote) or a
 * read that rebuilt part of it. Each line rebuilt gets the stamp of the file its tasks were read
 * from, or RACY (read again next time) for a shard this commit wrote or one changed within two
 * seconds of state.json's mtime `ref`: a coarse file system clock and a recycled inode could repeat a stamp.
 * A board read lazily rebuilds the lines of the shards read again and of those holding a task the
 * change touched, and copies the others; a board read whole gives every line. A board holding a
 * task in the wrong shard records nothing (its next write rewrites every shard).
 */
function recordIndex(dir: string, board: Board, touched: ReadonlySet<string>, written: ReadonlySet<string>, ref: number, via: string): ReadonlyMap<string, string> | null {
  const { indexed, state, files } = board;
  if (files.misplaced && written.size === 0) return null;
  const stampOf = (s: string): string => {
    if (written.has(s)) return RACY;
    if (!files.shards.has(s)) return '';
    return settled(files.stamps.get(s) ?? '', ref);
  };
  if (!indexed) {
    // A line of the index there whose stamp is the one read, of a shard the change did not touch, stays.
    const old = readTaskIndex(dir);
    const changed = new Set([...touched].map(shardOf));
    const by = tasksByShard(state.tasks);
    const lines = new Map<string, string>();
    for (const s of ALL_SHARDS) {
      const stamp = stampOf(s);
      const was = old?.get(s);
      lines.set(s, was && stamp !== RACY && was.stamp === stamp && !changed.has(s) && !files.misplaced ? was.line : lineOf(s, stamp, by.get(s) ?? []));
    }
    if (!old || ALL_SHARDS.some((s) => old.get(s)?.line !== lines.get(s))) writeTaskIndex(dir, lines, via);
    return lines;
  }
  const { lazy, index } = indexed;
  // The shards read again before the rules ran, and those holding a task the change touched; a
  // shard a rule only read is as the index has it.
  const ids = new Map<string, Set<string>>();
  for (const s of lazy.fresh) ids.set(s, new Set(files.members.get(s)));
  for (const id of touched) {
    const s = shardOf(id);
    (ids.get(s) ?? ids.set(s, new Set(files.members.get(s))).get(s)!).add(id);
  }
  const lines = new Map<string, string>();
  for (const [s, x] of index) lines.set(s, x.line);
  for (const [s, set] of ids) {
    const tasks: Task[] = [];
    for (const id of set) {
      const t = state.tasks[id];
      if (t) tasks.push(t);
    }
    lines.set(s, lineOf(s, stampOf(s), tasks));
  }
  writeTaskIndex(dir, lines, via);
  return lines;
}

/**
 * Phase 1, read: state.json, and the repair of what a crash or git left (prepareWrite). `pre`:
 * the board as read while waiting for the lock, of which only what changed since is read again.
 */
async function readBoard(dir: string, opts: TxOptions, pre: BoardFiles | null): Promise<Board> {
  // This machine's interrupted transaction first: undoing it may put back shards it rewrote (or
  // remove those a cut-short upgrade made), so the board is read again after it, whole.
  const hadJournal = existsSync(join(dir, JOURNAL));
  // Without a journal, through the board index: state.json and the shards a rule asks for.
  // A write whose rules list every task (claim-next's ranking) reads it whole, as it did before the index.
  const indexed = !hadJournal && !opts.thorough && !opts.readsAll && !indexOff() ? await readIndexed(dir) : null;
  let files = indexed?.lazy.files ?? ((!hadJournal && pre && (await refreshBoardFiles(dir, pre))) || (await readStateText(dir)));
  const stampOfRead = (f: BoardFiles) => ({ size: f.stamp.size, mtime: f.stamp.mtime, ino: f.stamp.ino });
  const rolled = rollbackJournal(dir, files.state, stampOfRead(files));
  if (hadJournal) files = await readStateText(dir);
  // A board in layout 1 whose shard files hold tasks: git put them there (a merge with an upgraded
  // clone, stopped). Upgrading now would write over them; doctor --repair merges both sides first.
  if (files.layout === 1 && !opts.thorough && [...files.shards.values()].some((t) => t.trim() !== '{}')) {
    throw new BatonError('MERGE_FAILED', `${FILES.state} keeps its tasks inside it (layout 1), but tasks/ holds tasks too: a merge with an upgraded clone is not finished; nothing was written.`, {
      hint: 'baton doctor --repair (it merges both sides task by task), then run the command again',
      details: { file: FILES.state },
    });
  }
  const { state } = files;
  const base = stampOfRead(files);
  const read = { revision: state.revision, seq: state.seq };
  const prepared = prepareWrite(dir, state, opts.thorough, rolled);
  if (prepared.plan) state.seq = prepared.plan.lastSeq;
  return { ...prepared, state, files, base, read, indexed };
}

/**
 * Phase 2, a retry: with an idempotency key already committed, its first answer. Read after the
 * journal is settled, so a key's record exists only for a committed transaction. A key used by
 * another command, caller or call is refused.
 */
function replayed<R>(dir: string, keyed: TxOptions['idempotency']): TxResult<R> | null {
  const record = keyed ? readKeyRecord(dir, keyed.key) : null;
  if (!keyed || !record) return null;
  if (record.command !== keyed.command || record.call !== keyed.call || record.session !== keyed.session) {
    const other = record.command !== keyed.command ? `by \`${record.command}\`` : record.session !== keyed.session ? 'by another session' : `for \`${record.command}\` with other arguments`;
    throw invalidInput(`The idempotency key '${keyed.key}' was already used ${other}; a key names one change by one caller.`, 'use a fresh key for a new change');
  }
  return { value: record.value as R, revision: record.revision, changed: false, warnings: [], replayed: true };
}

/** A change being made: the rules' `Tx` and what it gathers for the commit. */
interface Change {
  tx: Tx;
  now: string;
  revision: number;
  events: BatonEvent[];
  /** The ids of the tasks changed, created or archived: the only ones re-serialized. */
  touched: Set<string>;
  created: boolean;
  archiveFile: string;
  archived: { lines: string[]; ids: string[] };
  warnings: string[];
}

/** Phase 3, open: the clock (and whether to trust it) and the `Tx` the rules change the board through. */
function openChange(board: Board, config: Config, lock: HeldLock, opts: TxOptions): Change {
  const { state } = board;
  const now = new Date().toISOString();
  const revision = state.revision + 1;
  const clock = clockWarnings(lock.clockOffsetMs, board.ends.lastTs, config.clock_skew_seconds * 1000, Date.parse(now));
  let actor = opts.actor ?? null;
  let sessionId = opts.session ?? null;
  const change: Change = { tx: undefined as unknown as Tx, now, revision, events: [], touched: new Set(), created: false, archiveFile: archiveFileFor(now), archived: { lines: [], ids: [] }, warnings: [...clock.warnings] };
  const { events, touched, archived } = change;
  const tx: Tx = {
    state,
    config,
    now,
    revision,
    emit(e) {
      events.push({
        id: `e-${randomSuffix(10)}`,
        seq: state.seq + events.length + 1,
        ts: now,
        revision,
        type: e.type,
        actor: e.actor !== undefined ? e.actor : actor,
        session: e.session !== undefined ? e.session : sessionId,
        task: e.task ?? null,
        data: e.data ?? {},
        notify: e.notify ?? null,
      });
    },
    touch(task) {
      task.updated_at = now;
      task.rev = revision;
      touched.add(task.id);
    },
    created(task) {
      touched.add(task.id);
      change.created = true;
    },
    archive(task, data = {}, record = true) {
      tx.emit({ type: 'task.archived', task: task.id, data: { status: task.status, file: change.archiveFile, ...data } });
      delete state.tasks[task.id];
      touched.add(task.id);
      (state.archived ??= {})[task.id] = now;
      if (!record) return;
      archived.lines.push(archiveLine({ id: task.id, archived_at: now, event: events.at(-1)!.id, task }));
      archived.ids.push(task.id);
    },
    actAs(a, s) {
      actor = a;
      sessionId = s;
    },
    clockTrusted: clock.trusted,
    find: board.indexed ? indexFinder(board.indexed.view, board.indexed.lazy.lazy) : wholeFinder(state),
  };
  change.tx = tx;
  return change;
}

/**
 * Phase 4, the repair as part of the change: a reconciliation of the log with the state (and the
 * tasks it restores), and after a git operation a task both on the board and in the archive.
 */
function repairInChange(dir: string, board: Board, change: Change, opts: TxOptions): void {
  const { plan, done } = board;
  const { tx } = change;
  if (plan) {
    const { why, ...counts } = plan.summary;
    tx.emit({ type: 'board.reconciled', actor: null, session: null, data: { why, ...counts } });
    for (const t of plan.missingTasks) restoreTask(tx, t);
    done.push(`reconciled the log with the state (${why}): ${plan.lastSeq} events kept, ${counts.duplicates} duplicate(s) dropped, ${counts.renumbered} renumbered${plan.missingTasks.length ? `, ${plan.missingTasks.length} task(s) restored` : ''}${counts.quarantined ? `, ${counts.quarantined} unreadable line(s) set aside in ${QUARANTINE_DIR}/` : ''}`);
  }
  if (plan || opts.thorough || board.outside) {
    const settled = settleArchive(tx, dir, opts.thorough);
    if (settled) done.push(settled);
  }
  opts.onRepaired?.(done);
}

/** Phase 5, apply: the command's rules, then what rides on writes (archiving every 25th, the tombstones' window). */
function applyChange<R>(change: Change, apply: (tx: Tx) => R): R {
  const { tx } = change;
  const value = apply(tx);
  if (change.events.length && change.revision % 25 === 0) autoArchive(tx);
  if (tx.state.archived) tx.state.archived = pruneTombstones(tx.state.archived);
  return value;
}

/**
 * Nothing to write, and the log was checked as far as it needed to be (in order, or it would
 * have been reconciled): remember it as it is, its last event included.
 */
function leaveUnchanged<R>(dir: string, board: Board, change: Change, lock: HeldLock, opts: TxOptions, value: R): TxResult<R> {
  try {
    refreshMark(dir, board.ends.lastId);
  } catch {
    /* only costs the next write a whole-log read */
  }
  // The index of what was read, when it was missing or some of it was rebuilt: the next write reads less.
  const rebuilt = board.indexed ? board.indexed.lazy.fresh.size > 0 : board.files.layout === 2 && !indexOff();
  if (rebuilt) {
    try {
      recordIndex(dir, board, new Set(), new Set(), board.files.stamp.mtime, lock.fence);
    } catch {
      /* only costs the next write a whole read */
    }
  }
  opts.afterCommit?.(board.state, change.tx.config, lock);
  return { value, revision: board.state.revision, changed: false, warnings: change.warnings };
}

/** Phase 6, validate: every task the change touched still matches the board schema. */
function validateChange(change: Change): void {
  for (const id of change.touched) {
    const t = change.tx.state.tasks[id];
    if (t && !taskLooksValid(t)) throw new BatonError('INTERNAL', `Refusing to write task ${id}: it does not match the board schema (a bug in baton).`, { hint: 'rerun with BATON_DEBUG=1 and report the command' });
  }
}

/**
 * Phase 7, commit: the journal (which makes this transaction, and only it, undoable: journal.ts),
 * the key's record, the archive lines, the events, and last state.json renamed into place, the
 * commit point, all from inside the lock's fence.
 */
/** Returns the shards it wrote. */
function commitChange(dir: string, lock: HeldLock, board: Board, change: Change, opts: TxOptions, value: unknown): ReadonlySet<string> {
  const { state, plan, base, read, files } = board;
  const { events, revision, now, archived, archiveFile } = change;
  const keyed = opts.idempotency;
  state.revision = revision;
  state.seq += events.length;
  state.tip = events.at(-1)!.id;
  // A reconciliation may have changed any task; otherwise only the touched tasks' shards are written.
  const write = planStateWrite(state, change.touched, files, plan !== null);
  const undo = Object.fromEntries([...write.shards.keys()].map((s) => [s, files.shards.get(s) ?? null]));
  commit(dir, lock, () => {
    if (plan) applyReconcile(dir, plan, lock.fence, now);
    const archiveSize = archived.lines.length ? { file: archiveFile, size: fileSize(join(dir, archiveFile)), ids_size: fileSize(join(dir, ARCHIVE_IDS)) } : null;
    writeJournal(dir, { revision_before: revision - 1, revision_after: revision, base_seq: state.seq - events.length, log_size: logSize(dir), ids: events.map((e) => e.id), key: keyed?.key ?? null, base, read_seq: read.seq, nonce: lock.nonce, archive: archiveSize, shards: undo }, lock.fence);
    if (keyed) writeKeyRecord(dir, { key: keyed.key, command: keyed.command, call: keyed.call, session: keyed.session, revision, at: now, value }, lock.fence);
    lock.check();
    if (archived.lines.length) appendArchive(dir, archiveFile, archived.lines.join(''), archived.ids);
    appendEvents(dir, events);
    writeState(dir, write, lock.fence);
  }, read);
  return new Set(write.shards.keys());
}

/**
 * Phase 8, after the commit point, still under the lock: the change stands, so what fails now is
 * a warning, never a failure. The log mark first (with it, a journal left behind is known to
 * belong to a committed transaction), then the journal's removal, the config cache, and every
 * 25 revisions event retention and old key records. Returns the stamp of the state.json this
 * transaction wrote, for the render after it.
 */
function afterCommitPoint(dir: string, lock: HeldLock, loaded: LoadedConfig, board: Board, change: Change, written: ReadonlySet<string>, opts: TxOptions): { stamp: Stamp | null; index: ReadonlyMap<string, string> | null } {
  const { tx, events, revision, now, warnings } = change;
  const { state, config } = tx;
  const after = (what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      warnings.push(`${what} failed (${(e as Error).message}); the change is committed. Next: free the cause, then \`baton render\` (or \`baton doctor --repair\`).`);
    }
  };
  // The shards' stamps are added once the lock is free (transact): 64 stats another writer need not wait for.
  const stamp = stampOfFile(join(dir, FILES.state));
  // The tasks in memory take the file's order (ids sorted), so what is rendered from them is what
  // the file gives. A board read lazily is not rendered from memory, and lists its tasks in that order.
  if (change.created && !board.indexed) {
    const sorted: State['tasks'] = {};
    for (const id of Object.keys(state.tasks).sort()) sorted[id] = state.tasks[id]!;
    state.tasks = sorted;
  }
  after('recording the log mark', () => writeMark(dir, events.at(-1)?.id));
  after('removing the transaction journal', () => removeJournal(dir, lock.nonce));
  after('caching the parsed config', () => writeConfigCache(dir, loaded));
  let index: ReadonlyMap<string, string> | null = null;
  if (!indexOff()) {
    let recorded = false;
    after('recording the board index', () => {
      index = recordIndex(dir, board, change.touched, written, stamp?.mtime ?? board.files.stamp.mtime, lock.fence);
      recorded = true;
    });
    // The tests check every index a write records against the shard files it describes.
    if (recorded && process.env.BATON_VERIFY_WRITES === '1') verifyTaskIndex(dir);
  }
  const { max_rows: maxRows, max_age_days: maxAgeDays } = config.events;
  if ((maxRows || maxAgeDays) && revision % 25 === 0) {
    after('pruning the event log', () => {
      if (pruneEvents(dir, { maxRows, maxAgeDays }, Date.parse(now), lock.fence).moved) refreshMark(dir);
    });
  }
  if (opts.idempotency && revision % 25 === 0) after('dropping old idempotency records', () => pruneKeyRecords(dir, Date.parse(now)));
  opts.afterCommit?.(state, config, lock);
  return { stamp, index };
}

/**
 * Runs a transaction's writes up to and including its commit point. A failure before the
 * commit point leaves nothing behind: the appended events are cut off again (when the lock is
 * still ours; otherwise the journal lets the next holder do it), a full disk becomes DISK_FULL
 * and a lost lock BOARD_BUSY, both saying nothing was written.
 */
function commit(dir: string, lock: HeldLock, write: () => void, before: { revision: number; seq: number }): void {
  try {
    lock.check();
    write();
  } catch (e) {
    const lost = lock.compromised();
    if (!lost) {
      try {
        rollbackJournal(dir, before, stampOf(join(dir, FILES.state)));
      } catch {
        /* left for the next writer's repair, which the journal makes exact */
      }
    }
    if (lost) throw lostLock();
    if (isDiskFull(e)) throw diskFull(e);
    if (isIoError(e)) throw ioError(e);
    throw e;
  }
}

/**
 * doctor --repair's half of recovery: a dead writer's lock, this machine's interrupted
 * transaction, a log that disagrees with the state (reconciled, keeping everything), projections.
 */
export async function repairBoard(dir: string, lockTimeoutMs: number): Promise<string[]> {
  const done: string[] = [];
  const staleMs = (await loadConfig(dir)).config.lock_stale_seconds * 1000;
  if (lockHealth(dir, staleMs) === 'stale' && breakStaleLock(dir, staleMs)) done.push('removed a lock left by a dead writer');
  const r = await transact(dir, {
    lockTimeoutMs,
    thorough: true,
    onRepaired: (d) => done.push(...d),
    onRendered: (written) => {
      if (written.length) done.push(`regenerated ${written.join(', ')}`);
    },
  }, () => undefined);
  // What failed after the commit point (a render that could not get the render lock) is said too.
  done.push(...r.warnings);
  return done;
}
