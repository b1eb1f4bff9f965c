import { relative } from 'node:path';
import { BatonError, invalidInput } from '../rules/errors.js';
import { ackCursor, checkCursorName, effectiveCursor, readCursors } from '../store/cursors.js';
import { listArchives, readEventsSince } from '../store/eventlog.js';
import { checkId } from '../rules/ids.js';
import { pruneEvents } from '../store/retention.js';
import { readConfig, readState } from '../store/store.js';
import type { BatonEvent } from '../rules/types.js';
import { untilAnswer, waitUntil } from '../store/waiting.js';
import { boardDir, type Ctx } from './context.js';

export interface EventsOptions {
  since?: number;
  limit?: number;
  type?: string;
  task?: string;
  cursor?: string;
  watch?: number;
  follow?: boolean;
}

export interface EventsResult {
  revision: number;
  events: BatonEvent[];
  /** Pass as --since to read on from here. */
  next_since: number;
  /** True when --limit cut the answer short. */
  more: boolean;
}

const DEFAULT_LIMIT = 1000;

/** `--type task.claimed` matches exactly; `--type task.` (a trailing dot) matches the family. */
const typeMatches = (pattern: string | undefined, type: string) => !pattern || (pattern.endsWith('.') ? type.startsWith(pattern) : type === pattern);

/**
 * Reads events; with `follow` (events --follow) it streams them to `follow.emit` as they are
 * committed, until `follow.quit` resolves.
 */
export async function list(o: EventsOptions, ctx: Ctx, follow?: { emit(e: BatonEvent): void; quit: Promise<void> }): Promise<EventsResult> {
  const dir = boardDir(ctx);
  const cursor = o.cursor === undefined ? null : checkCursorName(o.cursor);
  const task = o.task === undefined ? null : checkId(o.task, 'task id');
  const limit = o.limit ?? DEFAULT_LIMIT;
  const watch = o.watch ?? null;
  let since = o.since !== undefined ? o.since : cursor ? effectiveCursor(dir, readCursors(dir)[cursor] ?? 0) : 0;
  const read = async (): Promise<EventsResult> => {
    const state = await readState(dir);
    const all = readEventsSince(dir, since, state.seq).filter((e) => typeMatches(o.type, e.type) && (!task || e.task === task));
    const events = all.slice(0, limit || undefined);
    const nextSince = events.length ? events[events.length - 1]!.seq : Math.max(since, o.type || task ? state.seq : since);
    if (follow) {
      for (const e of events) follow.emit(e);
      since = Math.max(nextSince, state.seq);
    }
    return { revision: state.revision, events, next_since: nextSince, more: all.length > events.length };
  };
  // --follow never ends by itself; --watch ends with the first events or its timeout.
  if (follow) return waitUntil(dir, read, () => false, { deadline: Number.MAX_SAFE_INTEGER, stop: follow.quit });
  return untilAnswer(dir, watch, ctx.stop, read, (r) => r.events.length > 0);
}

export const renderEvent = (e: BatonEvent) =>
  `#${e.seq} ${e.ts} ${e.type}${e.task ? ` ${e.task}` : ''}${e.actor ? ` by ${e.actor}` : ''}${e.notify ? ` → ${e.notify.targets.join(',')} (${e.notify.kind})` : ''}${
    typeof e.data.text === 'string' ? `: ${e.data.text.replace(/\s+/g, ' ').slice(0, 100)}` : ''
  }`;

export function renderList(r: EventsResult): string {
  if (!r.events.length) return 'No events.';
  return [...r.events.map(renderEvent), ...(r.more ? [`… more: baton events --since ${r.next_since}`] : [])].join('\n');
}

// ---------------------------------------------------------------- ack

export interface AckResult {
  revision: number;
  cursor: string;
  seq: number;
}

/** Moves a named cursor (cursors.json; the board revision does not change). */
export async function ack(o: { cursor?: string; to?: number }, ctx: Ctx): Promise<AckResult> {
  if (!o.cursor) throw invalidInput('Name the cursor: --cursor NAME.');
  const name = checkCursorName(o.cursor);
  return ackCursor(boardDir(ctx), ctx.lockTimeoutMs, o.to, () => name);
}

export const renderAck = (r: AckResult) => `Cursor ${r.cursor} at ${r.seq}.`;

// ---------------------------------------------------------------- prune / archives

export interface PruneCommandResult {
  revision: number;
  moved: number;
  kept: number;
  archive: string | null;
}

export async function prune(o: { maxRows?: number; maxAgeDays?: number }, ctx: Ctx): Promise<PruneCommandResult> {
  const dir = boardDir(ctx);
  const config = await readConfig(dir);
  const maxRows = o.maxRows ?? config.events.max_rows;
  const maxAgeDays = o.maxAgeDays ?? config.events.max_age_days;
  if (!maxRows && !maxAgeDays) {
    throw new BatonError('USAGE', 'Nothing to prune by: give --max-rows N or --max-age-days D (or set events.max_rows / max_age_days in config.yaml).', { hint: 'baton events prune --max-rows 10000' });
  }
  // A transaction with nothing to apply: it undoes an interrupted write or reconciles a log git
  // changed before anything is moved, and prunes under the same lock.
  const { transact } = await import('../store/tx.js');
  const { refreshMark } = await import('../store/reconcile.js');
  let result: PruneCommandResult | null = null;
  await transact(dir, {
    lockTimeoutMs: ctx.lockTimeoutMs,
    afterCommit: (state, _config, lock) => {
      const r = pruneEvents(dir, { maxRows, maxAgeDays }, Date.now(), lock.fence);
      if (r.moved) refreshMark(dir);
      result = { revision: state.revision, moved: r.moved, kept: r.kept, archive: r.archive ? relative(dir, r.archive) : null };
    },
  }, () => undefined);
  return result!;
}

export const renderPrune = (r: PruneCommandResult) => (r.moved ? `Moved ${r.moved} event(s) to ${r.archive}; ${r.kept} stay in events.jsonl.` : `Nothing to move; ${r.kept} event(s) in events.jsonl.`);

export interface ArchivesResult {
  revision: number;
  archives: { file: string; first: number; last: number; events: number; bytes: number }[];
}

export async function archives(ctx: Ctx): Promise<ArchivesResult> {
  const dir = boardDir(ctx);
  const state = await readState(dir);
  return { revision: state.revision, archives: listArchives(dir).map((a) => ({ file: a.file, first: a.first, last: a.last, events: a.last - a.first + 1, bytes: a.bytes })) };
}

export const renderArchives = (r: ArchivesResult) =>
  r.archives.length ? r.archives.map((a) => `${a.file}  seq ${a.first}..${a.last}  ${a.bytes} bytes`).join('\n') : 'No archived events.';
