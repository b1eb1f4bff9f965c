import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cmp } from '../rules/json.js';
import { sortValue } from '../rules/shape.js';
import { recentNotifications } from './eventlog.js';
import { appendLines, writeFileAtomic } from './store.js';
import { archivable, archiveCutoff } from '../rules/archiving.js';
import { NO_ARCHIVE, type ArchiveView } from '../render/status.js';
import type { ProjectionInputs } from '../render/projections.js';
import type { Tx } from '../rules/change.js';
import type { State, Task } from '../rules/types.js';

/**
 * Archived tasks (SPEC §13): finished tasks taken off state.json, kept whole in
 * archive/tasks/YYYY-MM.jsonl (the month they were archived), one line per archiving, and their
 * ids in archive/tasks/ids.txt. Both files only ever grow, and both are written in the
 * transaction that removes the tasks from state.json, before its commit point: a crash before
 * the commit leaves lines the journal lets the next writer cut off (journal.ts), and a task that
 * is in state.json is live whatever the archive says. A board's hot reads never open the archive:
 * a dependency missing from state.json counts as finished (isReady), and only a lookup that
 * misses state.json (show, dep add, a new id) reads ids.txt.
 */

const TASK_ARCHIVE_DIR = join('archive', 'tasks');
export const ARCHIVE_IDS = join(TASK_ARCHIVE_DIR, 'ids.txt');

/** One line of an archive file. `event` is the id of the task.archived event that moved it. */
export interface ArchivedTask {
  id: string;
  archived_at: string;
  event: string;
  task: Task;
}

/** The file an archiving at `now` appends to, relative to the board. */
export const archiveFileFor = (now: string) => join(TASK_ARCHIVE_DIR, `${now.slice(0, 7)}.jsonl`);

/** One archive line: the id first, so a lookup can find it by its text alone. */
export function archiveLine(a: Omit<ArchivedTask, 'task'> & { task: Task }): string {
  return `{"id":${JSON.stringify(a.id)},"archived_at":${JSON.stringify(a.archived_at)},"event":${JSON.stringify(a.event)},"task":${JSON.stringify(sortValue(a.task))}}\n`;
}

/** Appends an archiving's lines and ids (fsynced, each file whole or cut back); call under the lock, before the commit point. */
export function appendArchive(dir: string, file: string, lines: string, ids: string[]): void {
  mkdirSync(join(dir, TASK_ARCHIVE_DIR), { recursive: true });
  appendLines(join(dir, file), `${lineStart(join(dir, file))}${lines}`);
  appendLines(join(dir, ARCHIVE_IDS), `${lineStart(join(dir, ARCHIVE_IDS))}${ids.map((id) => `${id}\n`).join('')}`);
}

/** '\n' when a file ends in a cut-off line (a power loss, a hand edit), so an append starts a line of its own. */
function lineStart(path: string): string {
  const last = lastBytes(path, 1);
  return last.text && !last.text.endsWith('\n') ? '\n' : '';
}

/** The archive files, newest first (relative to the board). */
function archiveFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, TASK_ARCHIVE_DIR));
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d{4}-\d{2}\.jsonl$/.test(n))
    .sort()
    .reverse()
    .map((n) => join(TASK_ARCHIVE_DIR, n));
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** What the archive holds, as a lookup that reads ids.txt once, on first use. */
export interface ArchiveIds {
  has(id: string): boolean;
  /** How many lines ids.txt has: the number archived (a git union may list one twice, counted twice). */
  count(): number;
}

export function archiveIds(dir: string): ArchiveIds {
  let text: string | null = null;
  // A checkout with CRLF line ends (core.autocrlf) reads the same.
  const load = () => (text ??= `\n${readOr(join(dir, ARCHIVE_IDS)).replace(/\r/g, '')}`);
  let counted: number | null = null;
  return {
    has: (id) => load().includes(`\n${id}\n`),
    count: () => {
      if (counted === null) {
        const t = load();
        let n = 0;
        for (let at = t.indexOf('\n', 1); at >= 0; at = t.indexOf('\n', at + 1)) n++;
        counted = n;
      }
      return counted;
    },
  };
}

function parseLine(line: string): ArchivedTask | null {
  try {
    const a = JSON.parse(line) as ArchivedTask;
    return a && typeof a.id === 'string' && a.task && typeof a.task === 'object' ? a : null;
  } catch {
    return null;
  }
}

/** An archived task's newest record, with the file it is in; null when it was never archived. */
export function findArchived(dir: string, id: string): (ArchivedTask & { file: string }) | null {
  if (!archiveIds(dir).has(id)) return null;
  const needle = `{"id":${JSON.stringify(id)},`;
  // The newest record by archived_at (two clones' lines of one month may be in either order).
  for (const file of archiveFiles(dir)) {
    const text = readOr(join(dir, file));
    let best: ArchivedTask | null = null;
    for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
      if (at > 0 && text[at - 1] !== '\n') continue;
      const end = text.indexOf('\n', at);
      const a = parseLine(text.slice(at, end < 0 ? undefined : end).replace(/\r$/, ''));
      if (a && (!best || a.archived_at >= best.archived_at)) best = a;
    }
    if (best) return { ...best, file };
  }
  return null;
}

/** Every archive record, oldest file first, and the lines that do not parse (doctor). */
export function readArchive(dir: string): { records: (ArchivedTask & { file: string; line: number })[]; bad: { file: string; line: number }[] } {
  const records: (ArchivedTask & { file: string; line: number })[] = [];
  const bad: { file: string; line: number }[] = [];
  for (const file of archiveFiles(dir).reverse()) {
    const lines = readOr(join(dir, file)).replace(/\r/g, '').split('\n');
    lines.forEach((l, k) => {
      if (!l.trim()) return;
      const a = parseLine(l);
      if (a) records.push({ ...a, file, line: k + 1 });
      else bad.push({ file, line: k + 1 });
    });
  }
  return { records, bad };
}

/** The last `bytes` of a file as they are, and whether the file holds more before them ('' when it is missing). */
function lastBytes(path: string, bytes: number): { text: string; cut: boolean } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { text: '', cut: false };
  }
  try {
    const size = fstatSync(fd).size;
    const from = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    return { text: buf.toString('utf8'), cut: from > 0 };
  } finally {
    closeSync(fd);
  }
}

/** The last `bytes` of a file, whole lines only, or '' when it is missing. */
function tail(path: string, bytes: number): string {
  const { text, cut } = lastBytes(path, bytes);
  return cut ? text.slice(text.indexOf('\n') + 1) : text;
}

/**
 * The most recently archived tasks that are done (STATUS.md's "Recently done" keeps showing recent
 * work once it is archived): read from the end of the newest archive files only.
 */
function recentlyArchivedDone(dir: string, limit: number): Task[] {
  const out: Task[] = [];
  const seen = new Set<string>();
  for (const file of archiveFiles(dir).slice(0, 2)) {
    const lines = tail(join(dir, file), 256 * 1024).split('\n');
    for (let k = lines.length - 1; k >= 0 && out.length < limit * 4; k--) {
      const a = lines[k] ? parseLine(lines[k]!) : null;
      if (!a || seen.has(a.id)) continue;
      seen.add(a.id);
      if (a.task.status === 'done') out.push(a.task);
    }
  }
  return out;
}

export function projectionInputs(dir: string, state: State): ProjectionInputs {
  return { notifications: recentNotifications(dir, state.seq), archive: archiveView(dir) };
}

export function archiveView(dir: string, limit = 10): ArchiveView {
  const count = archiveIds(dir).count();
  return count ? { count, recently_done: recentlyArchivedDone(dir, limit) } : NO_ARCHIVE;
}

// ---------------------------------------------------------------- taking tasks off the board

/** Archives what archivable() names, in this transaction; returns the ids, oldest first. */
export function archiveFinished(tx: Tx, days: number, why: 'command' | 'auto', max = Infinity): string[] {
  // Auto-archiving rides on every 25th write: the board index names its candidates (`archive` looks at every task).
  const candidates = why === 'auto' ? tx.find.finishedBy(archiveCutoff(tx.now, days)) : undefined;
  const tasks = archivable(tx.state, tx.now, days, candidates).slice(0, max);
  for (const t of tasks) tx.archive(t, { by: why });
  return tasks.map((t) => t.id);
}

const AUTO_BATCH = 500;

/** tasks.archive_after_days at work: called on every 25th write (tx.ts). */
export function autoArchive(tx: Tx): void {
  const days = tx.config.tasks.archive_after_days;
  // At most AUTO_BATCH a write, the oldest first: a board upgraded with years of finished work
  // catches up over a few writes instead of holding one agent's claim for seconds.
  if (days > 0) archiveFinished(tx, days, 'auto', AUTO_BATCH);
}

/**
 * A task that is both on the board and in the archive, after a git operation (a merge keeps a
 * task the other side changed after this side archived it, or one archived before the tombstone
 * window) or an interrupted archiving. The board copy is the archived one: it goes off the board
 * again, nothing to say. The copies differ: a named conflict (task.archive_conflict, notified to the
 * orchestrator), and a merged copy becomes the newest archive record (the older stays in its file;
 * the event holds both copies' differing values). Returns what it did, for doctor --repair, or null.
 */
export function settleArchive(tx: Tx, dir: string, thorough = false): string | null {
  const out: string[] = [];
  // doctor --repair: ids.txt lists every archived id (a copy of the board made without it, a merge).
  const all = thorough ? readArchive(dir).records : null;
  if (all?.length) {
    const listed = new Set(readOr(join(dir, ARCHIVE_IDS)).split('\n'));
    const missing = [...new Set(all.map((r) => r.id))].filter((id) => !listed.has(id));
    if (missing.length) {
      appendLines(join(dir, ARCHIVE_IDS), missing.map((id) => `${id}\n`).join(''));
      out.push(`listed ${missing.length} archived id(s) missing from ${ARCHIVE_IDS}`);
    }
  }
  const text = readOr(join(dir, ARCHIVE_IDS)).replace(/\r/g, '');
  if (!text) return out.join('; ') || null;
  const listed = text.split('\n').filter(Boolean);
  const ids = new Set(listed);
  // Both sides of a merge archived one id: listed once again, so the count stays right.
  if (ids.size < listed.length) writeFileAtomic(join(dir, ARCHIVE_IDS), [...ids].map((id) => `${id}\n`).join(''));
  const both = new Set(Object.keys(tx.state.tasks).filter((id) => ids.has(id)));
  if (!both.size) return out.join('; ') || null;
  const newest = new Map<string, ArchivedTask & { file: string }>();
  for (const r of all ?? readArchive(dir).records) if (both.has(r.id)) newest.set(r.id, r);
  let again = 0;
  const conflicts: string[] = [];
  for (const id of both) {
    const live = tx.state.tasks[id]!;
    const rec = newest.get(id);
    if (!rec) continue; // listed in ids.txt by an archiving that never committed: the task is live
    if (JSON.stringify(sortValue(live)) === JSON.stringify(sortValue(rec.task))) {
      tx.archive(live, { by: 'settle', again: true }, false);
      again++;
      continue;
    }
    conflicts.push(id);
    // Both copies are kept whole: the archived one stays in its file, and the merged one becomes
    // the newest record. It is finished as the archived copy was (who finished it, and how); every
    // other field comes from the copy changed last, and notes from both.
    const archivedCopy = rec.task;
    const liveNewer = live.updated_at > archivedCopy.updated_at;
    const merged: Task = { ...(liveNewer ? live : archivedCopy) };
    for (const k of ['status', 'assignee', 'reviewer', 'lease', 'blocked'] as const) (merged as Record<string, unknown>)[k] = archivedCopy[k];
    const notes = new Map<string, Task['notes'][number]>();
    for (const n of [...archivedCopy.notes, ...live.notes]) notes.set(JSON.stringify(n), n);
    merged.notes = [...notes.values()].sort((a, b) => cmp(a.at, b.at));
    merged.rev = Math.max(live.rev, archivedCopy.rev);
    merged.updated_at = liveNewer ? live.updated_at : archivedCopy.updated_at;
    const differ = (Object.keys(live) as (keyof Task)[]).filter((k) => k !== 'rev' && k !== 'updated_at' && JSON.stringify(live[k]) !== JSON.stringify(archivedCopy[k]));
    const text = `${id} was archived on one side of a git merge and changed on the other (${differ.join(', ')}); both copies are kept in the archive, the newest record holds the ${liveNewer ? 'change' : 'archived values'}`;
    const pickOf = (t: Task) => Object.fromEntries(differ.map((k) => [k, k === 'notes' ? t.notes.length : k === 'description' && t.description && t.description.length > 200 ? `(${t.description.length} characters)` : t[k]]));
    const data = { text, archived_at: rec.archived_at, archived_file: rec.file, fields: differ, board: pickOf(live), archive: pickOf(archivedCopy), kept: liveNewer ? 'board' : 'archive' };
    tx.emit({ type: 'task.archive_conflict', task: id, data, notify: { targets: ['orchestrator'], kind: 'archive-conflict', priority: 'normal' } });
    tx.state.tasks[id] = merged;
    tx.archive(merged, { by: 'settle', conflict: true });
  }
  if (again) out.push(`took ${again} archived task(s) a git merge had brought back off the board again`);
  if (conflicts.length) out.push(`${conflicts.length} task(s) changed on one side and archived on the other (${conflicts.slice(0, 5).join(', ')}${conflicts.length > 5 ? ', …' : ''}): both copies kept in the archive, see the task.archive_conflict events`);
  return out.join('; ') || null;
}
