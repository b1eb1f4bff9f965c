import { unlinkSync } from 'node:fs';
import { BatonError } from './errors.js';
import { randomSuffix } from './ids.js';
import { acquireLock } from './acquire.js';
import { breakStaleLock, lockHealth } from './lock.js';
import { recentNotifications } from './events.js';
import { pruneEvents } from './retention.js';
import { taskLooksValid } from './shape.js';
import type { BatonEvent, Config, State, Task } from './types.js';
import {
  appendEvents,
  leftoverTempFiles,
  loadConfig,
  readConfig,
  readState,
  readStateText,
  repairLog,
  writeConfigCache,
  writeProjections,
  writeState,
} from './store.js';
import { renderProjections } from '../render/projections.js';

export interface TxOptions {
  lockTimeoutMs: number;
  /** Told how long the lock took and how long the whole transaction held it (bench). */
  onTiming?: ((t: { lock_wait_ms: number; locked_ms: number }) => void) | undefined;
  expectedRevision?: number | undefined;
  actor?: string | null;
  session?: string | null;
}

export interface EmitInput {
  type: string;
  task?: string | null;
  data?: Record<string, unknown>;
  notify?: BatonEvent['notify'];
  actor?: string | null;
  session?: string | null;
}

/** What a mutation's apply function gets: a private copy of the state to change in place. */
export interface Tx {
  state: State;
  config: Config;
  /** The one timestamp of this transaction. */
  now: string;
  /** The revision the board will have if this transaction commits. */
  revision: number;
  emit(e: EmitInput): void;
  /** Marks a task changed in this transaction (updated_at, rev). */
  touch(task: Task): void;
  /** Marks a task added in this transaction. */
  created(task: Task): void;
  /** Sets who the following events are by (an authenticated command, once it knows). */
  actAs(actor: string, session: string): void;
}

export interface TxResult<R> {
  value: R;
  revision: number;
  /** False when the apply function emitted nothing: nothing was written. */
  changed: boolean;
}

export function checkExpectedRevision(state: State, expected: number | undefined): void {
  if (expected !== undefined && expected !== state.revision) {
    throw new BatonError(
      'REVISION_CONFLICT',
      `The board is at revision ${state.revision}, not ${expected}: someone changed it since you read it.`,
      { hint: 're-read the board (baton status --json) and retry', details: { expected, actual: state.revision } },
    );
  }
}

/** Undoes what a writer killed mid-transaction left behind; call only under the lock. */
export function repairLeftovers(dir: string, state: State): { truncatedLog: boolean; removedTemps: number } {
  const temps = leftoverTempFiles(dir);
  for (const t of temps) {
    try {
      unlinkSync(t);
    } catch {
      /* already gone */
    }
  }
  return { truncatedLog: repairLog(dir, state.seq), removedTemps: temps.length };
}

export async function withLock<R>(dir: string, timeoutMs: number, fn: () => Promise<R> | R): Promise<R> {
  const lock = await acquireLock(dir, timeoutMs);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

export async function transact<R>(dir: string, opts: TxOptions, apply: (tx: Tx) => R): Promise<TxResult<R>> {
  const loaded = await loadConfig(dir);
  const config = loaded.config;
  const asked = performance.now();
  const lock = await acquireLock(dir, opts.lockTimeoutMs);
  const got = performance.now();
  try {
    const { state, text: previous } = await readStateText(dir);
    checkExpectedRevision(state, opts.expectedRevision);
    repairLeftovers(dir, state);

    const now = new Date().toISOString();
    const revision = state.revision + 1;
    const events: BatonEvent[] = [];
    const touched = new Set<string>();
    let actor = opts.actor ?? null;
    let sessionId = opts.session ?? null;
    let created = false;
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
        created = true;
      },
      actAs(a, s) {
        actor = a;
        sessionId = s;
      },
    };
    const value = apply(tx);
    if (events.length === 0) return { value, revision: state.revision, changed: false };

    for (const id of touched) {
      const t = state.tasks[id];
      if (t && !taskLooksValid(t)) throw new BatonError('INTERNAL', `Refusing to write task ${id}: it does not match the board schema (a bug in baton).`, { hint: 'rerun with BATON_DEBUG=1 and report the command' });
    }
    state.revision = revision;
    state.seq += events.length;
    if (lock.compromised()) {
      throw new BatonError('BOARD_BUSY', 'Lost the board lock mid-write (another process judged it stale); nothing was written.', {
        hint: 'retry the command',
      });
    }
    appendEvents(dir, events);
    writeState(dir, state, touched, created, previous);
    writeProjections(dir, renderProjections(state, config, recentNotifications(dir, state.seq)));
    writeConfigCache(dir, loaded);
    // Retention from config.yaml, applied every 25 revisions so its cost is spread thin.
    const { max_rows: maxRows, max_age_days: maxAgeDays } = config.events;
    if ((maxRows || maxAgeDays) && revision % 25 === 0) pruneEvents(dir, state, { maxRows, maxAgeDays }, Date.parse(now));
    return { value, revision, changed: true };
  } finally {
    await lock.release();
    opts.onTiming?.({ lock_wait_ms: got - asked, locked_ms: performance.now() - got });
  }
}

/** doctor --repair's half of crash recovery: leftovers, a dead writer's lock, projections. */
export async function repairBoard(dir: string, lockTimeoutMs: number): Promise<string[]> {
  const done: string[] = [];
  if (lockHealth(dir) === 'stale' && breakStaleLock(dir)) done.push('removed a lock left by a dead writer');
  const config = await readConfig(dir);
  await withLock(dir, lockTimeoutMs, async () => {
    const state = await readState(dir);
    const r = repairLeftovers(dir, state);
    if (r.truncatedLog) done.push('truncated events a crashed writer appended past the committed state');
    if (r.removedTemps) done.push(`removed ${r.removedTemps} temp file(s) of interrupted writes`);
    const written = writeProjections(dir, renderProjections(state, config, recentNotifications(dir, state.seq)));
    if (written.length) done.push(`regenerated ${written.join(', ')}`);
  });
  return done;
}
