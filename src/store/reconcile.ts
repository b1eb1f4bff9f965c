import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gitOrNull, gitStatus, repoRoot } from './gitrun.js';
import { FILES, type FileStamp, readVoid, sameStamp, stampOf, writeFileAtomic } from './store.js';
import { archivedThrough, type BadLine, ensureArchiveDir, eventOf, listArchives, type ParsedLog, parseEventLog } from './eventlog.js';
import { archiveIds } from './archivefiles.js';
import type { BatonEvent, State, Task } from '../rules/types.js';
import { shardOf, shardPath } from '../rules/layout.js';
import { taskLooksValid } from '../rules/shape.js';

/**
 * Reconciling a log and a state that disagree for a reason other than this machine's own
 * crash (git merged, rebased, cherry-picked, reverted or resolved them by hand). Nothing is
 * ever dropped: every event of every archive and of the live log is kept once, by id, in the
 * order the files hold them, and numbered again 1..n. A task the log says was created but the
 * state lacks is restored. The transaction that applies the plan records a `board.reconciled`
 * event saying what it did.
 */

/** Where doctor --repair keeps the log lines it could not read (never deleted). */
export const QUARANTINE_DIR = 'quarantine';

export interface LogEnds {
  /** seq of the first and last lines of events.jsonl (null: empty). */
  first: number | null;
  last: number | null;
  /** False when the first or last line is not an event (a conflict marker, a torn or foreign line). */
  ok: boolean;
  /** The id and time of the last event (null: none). */
  lastId: string | null;
  lastTs: string | null;
}

/** The seq of the first and the last line of the live log, reading only its two ends. */
export function logEnds(dir: string): LogEnds {
  let fd: number;
  try {
    fd = openSync(join(dir, FILES.events), 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { first: null, last: null, ok: true, lastId: null, lastTs: null };
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return { first: null, last: null, ok: true, lastId: null, lastTs: null };
    const read = (pos: number, len: number) => {
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      return buf.toString('utf8');
    };
    let head = '';
    for (let len = 4096; ; len *= 4) {
      head = read(0, Math.min(size, len));
      if (head.includes('\n') || len >= size) break;
    }
    let tail = '';
    for (let len = 4096; ; len *= 4) {
      tail = read(Math.max(0, size - Math.min(size, len)), Math.min(size, len));
      if (tail.slice(0, -1).includes('\n') || len >= size) break;
    }
    if (!tail.endsWith('\n')) return { first: null, last: null, ok: false, lastId: null, lastTs: null };
    const firstLine = head.slice(0, head.includes('\n') ? head.indexOf('\n') : undefined);
    const body = tail.slice(0, -1);
    const lastLine = body.slice(body.lastIndexOf('\n') + 1);
    const first = eventOf(firstLine);
    const last = eventOf(lastLine);
    return { first: first?.seq ?? null, last: last?.seq ?? null, ok: first !== null && last !== null, lastId: last?.id ?? null, lastTs: typeof last?.ts === 'string' ? last.ts : null };
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- the mark: what this clone last wrote

/**
 * `.baton.lock.mark` (ignored with the lock) holds the id of the last event a write on this board
 * directory committed. A merge only adds to the log, so the id is always still there, unless git
 * took events out of the working tree: a revert or a reset of the newest board commit, a checkout
 * of an older log. git's three-way merge never asks the driver when one side is the base, so the
 * next write looks for it, and when it is gone brings the events back from git's history.
 */
export const MARK = '.baton.lock.mark';

interface Mark {
  id: string | null;
  log: FileStamp | null;
}

function readMark(dir: string): Mark | null {
  let text: string;
  try {
    text = readFileSync(join(dir, MARK), 'utf8').trim();
  } catch {
    return null;
  }
  if (!text.startsWith('{')) return { id: text || null, log: null }; // an older baton's mark: the id alone
  try {
    const m = JSON.parse(text) as Mark;
    return { id: typeof m.id === 'string' ? m.id : null, log: m.log ?? null };
  } catch {
    return null;
  }
}

/** The id of the last event a commit here recorded (null: none, or no mark). */
export const readMarkId = (dir: string): string | null => readMark(dir)?.id ?? null;

export function writeMark(dir: string, id: string | undefined): void {
  if (!id) return;
  writeFileSync(join(dir, MARK), JSON.stringify({ id, log: stampOf(join(dir, FILES.events)) }));
}

/**
 * After this writer changed the log's file without appending (a prune rewrote it) or found it in
 * order (a whole-log check that found nothing): the same mark, the log's new stamp, so the next
 * write need not read the whole log again. A late append past the mark still shows (its last id).
 */
export function refreshMark(dir: string, lastId?: string | null): void {
  const id = lastId ?? readMark(dir)?.id;
  if (id) writeMark(dir, id);
}

/**
 * True when events.jsonl is not as the last write left it (git, a person, an older baton changed
 * it): a write then reads the whole log once, so an unreadable line anywhere stops it.
 */
export function logChangedOutside(dir: string, ends: LogEnds): boolean {
  const mark = readMark(dir);
  if (!mark?.log || !sameStamp(mark.log, stampOf(join(dir, FILES.events)))) return true;
  // Something appended after the last event a commit here recorded (a late writer whose lock was
  // broken, whose events are void) while the stamp was taken after it.
  return mark.id !== null && ends.lastId !== mark.id;
}

/**
 * What became of the event this clone last committed when the log no longer holds it:
 * - `restore`: git took it out of the working tree, and these events (the log of the commit that
 *   held it) come back;
 * - `elsewhere`: another branch, tag or stash holds it, or HEAD left it by a checkout: nothing is
 *   lost, nothing comes back;
 * - `gone`: neither the log nor any commit git has holds it.
 */
export type MissingEvent =
  | { id: string; verdict: 'restore'; events: BatonEvent[]; commit: string; why: string }
  | { id: string; verdict: 'elsewhere'; where: string }
  | { id: string; verdict: 'gone' };

/** The commits among `commits` whose version of the log at `path` holds `needle` (one git grep per 200). */
function commitsHolding(repo: string, commits: string[], path: string, needle: string): Set<string> {
  const found = new Set<string>();
  for (let i = 0; i < commits.length; i += 200) {
    const out = gitOrNull(repo, ['grep', '-l', '-F', '-e', needle, ...commits.slice(i, i + 200), '--', path]);
    for (const line of (out ?? '').split('\n')) {
      const c = line.slice(0, line.indexOf(':'));
      if (c) found.add(c);
    }
  }
  return found;
}

/** A reflog subject that moves HEAD to another line of work rather than rewriting this one. */
function leftByCheckout(subject: string): boolean {
  const m = /^checkout: moving from (\S+) to (\S+)$/.exec(subject);
  return m !== null && m[1] !== m[2]; // `checkout -B main X` on main moves main itself: a reset
}

/**
 * When the event this clone last committed is no longer anywhere in the log, what git did with it.
 * Switching branches is not losing events: the other branch still holds them. Only what git
 * really lost may come back, in this order:
 * 1. a commit in HEAD's own history holds it and the working tree lost it (a revert of the newest
 *    board commit, a cherry-pick or merge resolved by hand, an older log checked out): restore;
 * 2. a branch, tag, remote branch or stash still holds it (a switch, `git switch -`, a detached
 *    look at an older commit, a bisect, a stash): nothing;
 * 3. no ref holds it any more: restore from the newest commit of HEAD's reflog that holds it,
 *    when HEAD left that commit by rewriting its line (reset, rebase, amend, pull --rebase), not
 *    by a checkout to another line (a detached look's commit left behind, a branch deleted
 *    after switching away from it: what a person discarded stays discarded).
 */
export function eventsGitRemoved(dir: string, ends = logEnds(dir)): MissingEvent | null {
  const id = readMark(dir)?.id;
  if (!id || ends.lastId === id) return null;
  try {
    if (logFiles(dir).some(([file, text, isLive]) => parseEventLog(text, file, { live: isLive, markers: true }).events.some((e) => e.id === id))) return null;
  } catch {
    return null; // a log that can't be read is the other checks' business
  }
  const repo = repoRoot(dir);
  if (!repo) return { id, verdict: 'gone' };
  const path = relative(repo, join(dir, FILES.events)).split('\\').join('/');
  const needle = `"id":"${id}"`;
  const restore = (commit: string, why: string): MissingEvent => {
    const text = gitOrNull(repo, ['show', `${commit}:${path}`]) ?? '';
    return { id, verdict: 'restore', events: parseEventLog(`${text}\n`, `${commit}:${path}`, { live: true, markers: true }).events, commit, why };
  };
  const head = gitOrNull(repo, ['rev-parse', '-q', '--verify', 'HEAD']);
  const origHead = gitOrNull(repo, ['rev-parse', '-q', '--verify', 'ORIG_HEAD']);
  // HEAD's reflog, newest first: each entry's commit and how HEAD came to it.
  const reflog = (gitOrNull(repo, ['log', '-g', '--format=%H%x09%gs', '-n', '50', 'HEAD']) ?? '')
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ commit: line.slice(0, line.indexOf('\t')), subject: line.slice(line.indexOf('\t') + 1) }));
  const candidates = [...new Set([head, origHead, ...reflog.map((r) => r.commit)].filter((c): c is string => !!c))];
  const holders = commitsHolding(repo, candidates, path, needle);

  // 1. HEAD's own history committed it, and the working tree no longer has it.
  if (head) {
    for (const c of candidates) {
      if (holders.has(c) && (c === head || gitStatus(repo, ['merge-base', '--is-ancestor', c, head]).code === 0)) return restore(c, 'HEAD\'s own history holds it');
    }
  }
  // 2. Another line of work still holds it.
  const refs = (gitOrNull(repo, ['for-each-ref', '--format=%(objectname)%09%(refname)']) ?? '').split('\n').filter(Boolean).map((line) => line.split('\t') as [string, string]);
  const refHolders = commitsHolding(repo, [...new Set(refs.map(([o]) => o))], path, needle);
  const ref = refs.find(([o]) => refHolders.has(o));
  if (ref) return { id, verdict: 'elsewhere', where: ref[1].replace(/^refs\/(heads|tags)\//, '') };
  // 3. No ref holds it: how did HEAD leave the newest commit that did?
  const i = reflog.findIndex((r) => holders.has(r.commit));
  if (i > 0) return leftByCheckout(reflog[i - 1]!.subject) ? { id, verdict: 'elsewhere', where: `a commit HEAD left by a checkout (${reflog[i]!.commit.slice(0, 12)})` } : restore(reflog[i]!.commit, `no ref holds it since \`${reflog[i - 1]!.subject}\``);
  if (origHead && holders.has(origHead)) return restore(origHead, 'no ref holds it; ORIG_HEAD does');
  return { id, verdict: 'gone' };
}

/**
 * Why the log and the state disagree, or null when they agree: the live log runs from just past
 * the archives to state.seq. Cheap (two ends of one file and a directory listing): every write
 * checks it.
 */
export function logDisagreement(dir: string, state: State, ends = logEnds(dir)): string | null {
  const archived = archivedThrough(dir);
  if (!ends.ok) return 'events.jsonl begins or ends with a line that is not an event (a conflict marker or a torn line)';
  if (ends.last === null) return state.seq === archived ? null : `the state counts ${state.seq} events but the log holds ${archived}`;
  if (ends.last !== state.seq) return `events.jsonl ends at seq ${ends.last} but the state counts ${state.seq}`;
  if (ends.first !== archived + 1) return `events.jsonl starts at seq ${ends.first} but the archives end at ${archived}`;
  return null;
}

/**
 * The whole log checked (reads every archive and the live log): each event once, seq 1..n with
 * no gap, n = state.seq. Returns the first problem, or null; doctor calls it every time, a write
 * when the log was changed outside baton (then an unreadable line throws BOARD_CORRUPT).
 */
export function wholeLogProblem(dir: string, state: State, throwUnreadable = false): string | null {
  const ids = new Set<string>();
  const created = new Set<string>();
  const voided = readVoid(dir);
  let n = 0;
  for (const [file, text, isLive] of logFiles(dir)) {
    let p: ParsedLog;
    try {
      p = parseEventLog(text, file, { live: isLive, markers: true });
    } catch (e) {
      if (throwUnreadable) throw e;
      return (e as Error).message;
    }
    if (p.markers) return `${file} holds git conflict markers`;
    if (p.tornBytes) return `${file} ends with a torn line`;
    for (const e of p.events) {
      if (voided.has(e.id)) return `${file}: event ${e.id} belongs to a transaction that never committed (its writer lost the lock)`;
      if (ids.has(e.id)) return `${file}: event ${e.id} is in the log twice`;
      ids.add(e.id);
      n++;
      if (e.seq !== n) return `${file}: seq ${e.seq} where ${n} was expected`;
      if (e.type === 'task.created' && e.task) created.add(e.task);
    }
  }
  if (n !== state.seq) return `the log holds ${n} events but the state counts ${state.seq}`;
  // A task the log created that is neither on the board nor archived: git took it out of its shard
  // (a revert of the commit that added it, when no later commit touched that shard).
  const archived = archiveIds(dir);
  const missing = [...created].filter((id) => !state.tasks[id] && !archived.has(id));
  return missing.length ? `${missing.length} task(s) the log created are neither on the board nor archived (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}): a git operation took them out of their shards` : null;
}

/**
 * The newest version of a task that HEAD's history committed in its shard: what a task git took
 * out of the working tree is restored from (null: no repository, or no commit holds it).
 */
export function taskFromGit(dir: string, id: string): { task: Task; commit: string } | null {
  const repo = repoRoot(dir);
  if (!repo) return null;
  const path = relative(repo, join(dir, shardPath(shardOf(id)))).split('\\').join('/');
  const commits = (gitOrNull(repo, ['log', '--format=%H', '-n', '50', 'HEAD', '--', path]) ?? '').split('\n').filter(Boolean);
  for (const commit of commits) {
    try {
      const task = (JSON.parse(gitOrNull(repo, ['show', `${commit}:${path}`]) ?? '{}') as Record<string, unknown>)[id];
      if (task && taskLooksValid(task)) return { task: task as Task, commit };
    } catch {
      /* that version does not parse (conflict markers committed): an older one may */
    }
  }
  return null;
}

/**
 * Every file of the log in order, as [file, text, isLive]: the archives by their ranges (the
 * oldest events), then the live log when there is one.
 */
function logFiles(dir: string): [string, string, boolean][] {
  const files = listArchives(dir).sort((a, b) => a.first - b.first || a.last - b.last || (a.file < b.file ? -1 : 1));
  const out: [string, string, boolean][] = files.map((a) => [a.file, readFileSync(join(dir, a.file), 'utf8'), false]);
  try {
    out.push([FILES.events, readFileSync(join(dir, FILES.events), 'utf8'), true]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return out;
}

export interface ReconcilePlan {
  /** The live log's new text. */
  live: string;
  /** A consolidated archive to write, and the archive files it replaces (null: archives stay). */
  archive: { name: string | null; text: string; replaces: string[] } | null;
  /** The seq of the last event kept. */
  lastSeq: number;
  /** Tasks whose `task.created` event is in the log but which the state lacks. */
  /** Tasks the log created that the state lacks, each with its newest version in git when HEAD's history has one. */
  missingTasks: { id: string; title: string; at: string; git: { task: Task; commit: string } | null }[];
  /** Unreadable lines set aside (doctor --repair only): written to quarantine/ before the log. */
  quarantine: BadLine[];
  /** What the `board.reconciled` event records. */
  summary: {
    why: string;
    state_seq: number;
    events: number;
    duplicates: number;
    renumbered: number;
    conflict_markers: number;
    torn_bytes: number;
    archived_in_live: number;
    recovered_from_git: number;
    restored_tasks: string[];
    quarantined: number;
    /** Events of a transaction that never committed (a writer whose lock was broken). */
    void_dropped: number;
  };
}

const pad = (n: number) => String(n).padStart(9, '0');
const lines = (events: BatonEvent[]) => events.map((e) => `${JSON.stringify(e)}\n`).join('');

/**
 * Reads every archive and the live log and plans their reconciliation (writes nothing). With
 * `quarantine`, an unreadable line is set aside instead of stopping the plan.
 */
export function planReconcile(dir: string, state: State, why: string, recovered: BatonEvent[] = [], quarantine = false): ReconcilePlan {
  const bad: BadLine[] | undefined = quarantine ? [] : undefined;
  const voided = readVoid(dir);
  let voidCount = 0;
  const seen = new Set<string>();
  let duplicates = 0;
  let markers = 0;
  let renumbered = 0;
  let seq = 0;
  const take = (events: BatonEvent[]): BatonEvent[] => {
    const kept: BatonEvent[] = [];
    for (const e of events) {
      if (voided.has(e.id)) {
        voidCount++; // appended by a writer whose commit failed: it never happened
        continue;
      }
      if (seen.has(e.id)) {
        duplicates++;
        continue;
      }
      seen.add(e.id);
      seq++;
      if (e.seq !== seq) renumbered++;
      kept.push(e.seq === seq ? e : { ...e, seq });
    }
    return kept;
  };

  // Archives first (they hold the oldest events), in the order of their ranges; then the live log.
  const files = logFiles(dir);
  const liveText = files.at(-1)?.[2] ? files.pop()![1] : '';
  const archived: BatonEvent[] = [];
  let archiveChanged = false;
  for (const [file, text] of files) {
    const before0 = bad?.length ?? 0;
    const p = parseEventLog(text, file, { markers: true, bad });
    markers += p.markers;
    if ((bad?.length ?? 0) !== before0) archiveChanged = true;
    const before = duplicates + renumbered;
    const kept = take(p.events);
    const range = /(\d+)-(\d+)\.jsonl$/.exec(file)!;
    if (duplicates + renumbered !== before || p.markers || kept.length === 0 || kept[0]!.seq !== Number(range[1]) || kept.at(-1)!.seq !== Number(range[2])) archiveChanged = true;
    for (const e of kept) archived.push(e); // a loop: spreading 100k+ arguments overflows the stack
  }
  const archivedCount = seq;

  const live = parseEventLog(liveText, FILES.events, { live: true, markers: true, bad });
  markers += live.markers;
  const liveIds = new Set(archived.map((e) => e.id));
  const archivedInLive = live.events.filter((e) => liveIds.has(e.id)).length;
  const kept = take(live.events);
  // Events git took out of the working tree (a revert or reset of the newest board commit),
  // recovered from git's own history: they follow, numbered on.
  const before = kept.length;
  for (const e of take(recovered)) kept.push(e);
  const recoveredCount = kept.length - before;

  const createdAt = new Map<string, { title: string; at: string }>();
  for (const e of [...archived, ...kept]) {
    if (e.type === 'task.created' && e.task && !createdAt.has(e.task)) createdAt.set(e.task, { title: typeof e.data?.title === 'string' ? e.data.title : e.task, at: e.ts });
  }
  // An archived task is not missing: it left the board on purpose (store/archivefiles.ts).
  const archivedTasks = archiveIds(dir);
  const missingTasks = [...createdAt].filter(([id]) => !state.tasks[id] && !archivedTasks.has(id)).map(([id, v]) => ({ id, ...v, git: taskFromGit(dir, id) }));

  return {
    live: lines(kept),
    archive: archiveChanged ? { name: archived.length ? `${pad(1)}-${pad(archivedCount)}.jsonl` : null, text: lines(archived), replaces: files.map(([file]) => file) } : null,
    lastSeq: seq,
    missingTasks,
    // A torn last line that no journal claimed may be a committed event cut short (a copy, a
    // truncation): it is set aside with the unreadable lines, never dropped.
    quarantine: [...(bad ?? []), ...(live.torn ? [{ file: FILES.events, ...live.torn }] : [])],
    summary: {
      why,
      state_seq: state.seq,
      events: seq,
      duplicates,
      renumbered,
      conflict_markers: markers,
      torn_bytes: live.tornBytes,
      archived_in_live: archivedInLive,
      recovered_from_git: recoveredCount,
      restored_tasks: missingTasks.map((t) => t.id).sort(),
      quarantined: (bad?.length ?? 0) + (live.torn ? 1 : 0),
      void_dropped: voidCount,
    },
  };
}

/** Writes a plan's files: the consolidated archive first (durable), then the live log. */
/** Writes the reconciled log; `via` is the lock's fence, so a writer whose lock was broken fails. */
export function applyReconcile(dir: string, plan: ReconcilePlan, via: string, now: string): void {
  if (plan.quarantine.length) {
    // Each unreadable line, exactly as it was, with where it came from: kept for a person.
    mkdirSync(join(dir, QUARANTINE_DIR), { recursive: true });
    const name = `${now.replace(/[:.]/g, '-')}.jsonl`;
    writeFileAtomic(join(dir, QUARANTINE_DIR, name), plan.quarantine.map((b) => `${JSON.stringify(b)}\n`).join(''), true, via);
  }
  if (plan.archive) {
    // No name: every archived event was a copy of another (or the archives were empty).
    const target = plan.archive.name ? join(ensureArchiveDir(dir), plan.archive.name) : '';
    if (plan.archive.name) writeFileAtomic(target, plan.archive.text, true, via);
    for (const old of plan.archive.replaces) {
      if (join(dir, old) === target) continue;
      try {
        unlinkSync(join(dir, old)); // every event of it is in the consolidated archive
      } catch {
        /* already gone */
      }
    }
  }
  writeFileAtomic(join(dir, FILES.events), plan.live, true, via);
}
