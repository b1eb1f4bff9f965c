import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cmp } from '../rules/json.js';
import { ALL_SHARDS, shardOf, shardPath } from '../rules/layout.js';
import { addInFlight, adoptView, type BoardView, inFlightLists, measureRoots, type Progress } from '../rules/rank.js';
import { biggestProgress, byUpdatedDesc, countProgress, topK } from '../rules/summary.js';
import { isFinished } from '../rules/taskmodel.js';
import { STATUSES, type State, type Status, type Task } from '../rules/types.js';
import { IN_FLIGHT } from '../rules/vocabulary.js';
import type { Stamp } from './hotindex.js';
import { FILES, journalThere, parseShardNow, readHeadAndStamps, readShardFile, signaturePart, stampOf, writeFileAtomic } from './store.js';
import { indexOff, indexOfLines, RACY, readTaskIndex, type Row, rowOf, rowsOfLine, settled } from './taskindex.js';

/**
 * The board as the render reads it (renderlock.ts): what STATUS.md and the read index show,
 * without reading every task whole. STATUS.md counts and ranks every task, but shows only a few
 * dozen: the work in flight, the ready tasks, the recently done, the goals, what the frontier
 * unblocks next. So:
 *
 * - every task's row (status, kind, parent, dependencies, estimate, labels, last update) comes
 *   from the board index (taskindex.ts), for each shard whose file still has the stamp the index
 *   recorded, not a racy one; any other shard is read now, whole;
 * - from the rows it counts the board (by status, goal and label, its clock) and ranks it (the
 *   ready tasks, their critical paths and downstream counts), as rank.ts does from whole tasks;
 * - it reads whole only the tasks those lists can show, from the render cache
 *   (`.baton.lock.rcache`: the tasks the last render read whole, by shard and stamp) or their
 *   shard files, and gives the render a state of those tasks with the board's view and facts
 *   adopted (as the read index's state is), plus a stand-in for every other task that answers
 *   its row and nothing else (asking it more is a bug: the render is done again from the whole
 *   board).
 *
 * What it renders is what the whole board gives, byte for byte (the tests render both ways).
 * It reads without a lock, as every reader does: state.json, the shards' stamps and the shards
 * read now, then no journal may be there and state.json must still be the file first read; a
 * shard read later must still have its stamp (a settled one, so a stamp that moved is a write).
 * When any of that fails, or there is no index (BATON_NO_INDEX=1, layout 1, a board with a
 * misplaced task), or a walk meets a dependency cycle, the caller renders from the board read whole.
 */

const CACHE = '.baton.lock.rcache';
const CACHE_VERSION = 1;

/** A shard moved under the render, or the render asked a stand-in for more than its row: it renders from the whole board instead. */
export class BoardMoved extends Error {}

export interface RenderBoard {
  state: State;
  /** state.json's stamp and the shards' signature, as the read index and the render's marker take them. */
  stamp: Stamp;
  /** How many shard files this render read. */
  shardsRead: number;
  /** Records the whole tasks this render read, for the next one (under the render lock: its fence). */
  keep(via: string): void;
}

interface Cache {
  v: number;
  /** By shard: [its stamp, the tasks of it read whole]. */
  shards: Record<string, [string, Record<string, Task>]>;
}

function readCache(dir: string): Cache['shards'] {
  try {
    const c = JSON.parse(readFileSync(join(dir, CACHE), 'utf8')) as Cache;
    return c && c.v === CACHE_VERSION && c.shards && typeof c.shards === 'object' ? c.shards : {};
  } catch {
    return {};
  }
}

/**
 * A task as its row gives it (a stand-in for one not read whole); reading any other field is a
 * bug the caller recovers from by rendering the whole board.
 */
class Stub {
  status: Task['status'];
  parent: Task['parent'];
  depends_on: Task['depends_on'];
  kind: Task['kind'];
  estimate: Task['estimate'];
  labels: Task['labels'];
  updated_at: Task['updated_at'];
  /** Null for a task neither leased nor in flight (the index's heads list every one that is); else not known. */
  lease!: null;
  constructor(
    readonly id: string,
    r: Row,
    leased: boolean,
  ) {
    this.status = r[0];
    this.parent = r[1];
    this.depends_on = r[2];
    this.kind = r[3];
    this.estimate = r[4];
    this.labels = r[5];
    this.updated_at = r[6];
    if (leased) Object.defineProperty(this, 'lease', { get: () => unknown(id, 'lease') });
    else this.lease = null;
  }
}
const unknown = (id: string, key: string): never => {
  throw new BoardMoved(`the render read ${key} of task ${id}, which it holds only a row of`);
};
for (const key of ['title', 'description', 'priority', 'created_at', 'specialty', 'candidate_depends_on', 'owned_paths', 'candidate_owned_paths', 'assignee', 'reviewer', 'review_required', 'gate', 'blocked', 'notes', 'rev', 'result'] satisfies (keyof Task)[]) {
  Object.defineProperty(Stub.prototype, key, {
    get(this: Stub) {
      return unknown(this.id, key);
    },
  });
}

/** How many unfinished tasks (not goals) the graph shows all of; more, and it shows a frontier (render/status.ts). */
const SMALL_BOARD = 50;

/** The board for the render, or null when it must be read whole (see above). `written`: the index a write just wrote, else the file's. */
export async function readRenderBoard(dir: string, written?: ReadonlyMap<string, string>): Promise<RenderBoard | null> {
  if (indexOff()) return null;
  const index = written ? indexOfLines(written) : readTaskIndex(dir);
  if (!index) return null;
  const start = await readHeadAndStamps(dir);
  if (!start) return null;
  const { head, stamp: read, stamps } = start;
  /** Every task's row, by id. */
  const rows = new Map<string, Stub>();
  /** Tasks holding a lease or in flight (from the index's heads). */
  const flight = new Set<string>();
  /** Whole tasks by shard: the shards read, and the cached ones whose stamp still holds. */
  const whole = new Map<string, Record<string, Task>>();
  let shardsRead = 0;
  const readShard = (s: string): Record<string, Task> | null => {
    const path = join(dir, shardPath(s));
    const f = readShardFile(path);
    shardsRead++;
    if (!f || f.stamp !== stamps.get(s)) return null;
    const tasks = parseShardNow(f.text, path);
    for (const id in tasks) if (shardOf(id) !== s) return null;
    return tasks;
  };
  const cache = readCache(dir);
  for (const s of ALL_SHARDS) {
    const x = index.get(s);
    const now = stamps.get(s)!;
    if (x && x.stamp !== RACY && x.stamp === now) {
      const ok = rowsOfLine(s, x.line, (id, r, leased) => {
        rows.set(id, new Stub(id, r, leased));
        if (leased) flight.add(id);
      });
      if (!ok) return null;
      const c = cache[s];
      if (c && c[0] === now) whole.set(s, c[1]);
      continue;
    }
    if (now === '') continue;
    let tasks: Record<string, Task> | null;
    try {
      tasks = readShard(s);
    } catch {
      return null; // the whole read says what is wrong with it
    }
    if (!tasks) return null;
    whole.set(s, tasks);
    for (const id in tasks) {
      const leased = tasks[id]!.lease !== null;
      rows.set(id, new Stub(id, rowOf(tasks[id]!), leased));
      if (leased) flight.add(id);
    }
  }
  // No write under way, and state.json still the file read: the stamps above are its shards'.
  const again = stampOf(join(dir, FILES.state));
  if (journalThere(dir) || !again || again.size !== read.size || again.mtime !== read.mtime || again.ino !== read.ino) return null;

  // ---- the board counted and ranked from its rows (as rank.ts's boardView and summary.ts do from whole tasks)
  const all = [...rows.values()];
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  let latest = head.board.created_at;
  let unfinished = 0;
  let openTasks = 0;
  const depReady: number[] = [];
  const byGoal = new Map<string, Progress>();
  const byLabel = new Map<string, Progress>();
  // An id a plain object answers to (`constructor`, which a hand edit can name): the whole board's
  // lookups and the rows' would disagree on it, so the whole board decides.
  let inherited = false;
  const finished = (id: string) => {
    const d = rows.get(id);
    if (!d && id in Object.prototype) inherited = true;
    return !d || isFinished(d.status);
  };
  for (let i = 0; i < all.length; i++) {
    const t = all[i]!;
    if (t.id in Object.prototype || (t.parent !== null && t.parent in Object.prototype)) inherited = true;
    counts[t.status]++;
    if (t.updated_at > latest) latest = t.updated_at;
    if (!isFinished(t.status)) {
      unfinished++;
      if (t.kind !== 'goal') openTasks++;
    }
    if (t.kind !== 'goal') {
      // A goal's title is read once it is among those shown.
      if (t.parent && rows.get(t.parent)?.kind === 'goal') countProgress(byGoal, t.parent, null, t.status);
      for (const l of t.labels) countProgress(byLabel, l, null, t.status);
    }
    if (t.status === 'todo' && t.kind === 'task' && t.depends_on.every(finished)) depReady.push(i);
  }
  if (inherited) return null;
  const measured = measureRoots(all, depReady);
  // With a cycle, the measures hang on the order the roots were walked in: the whole board's order decides.
  if (measured.cyclic) return null;

  // ---- the tasks the lists can show, read whole
  const want = new Set<string>();
  const ready = new Set(depReady.map((i) => all[i]!.id));
  for (const t of all) {
    if (flight.has(t.id) || ready.has(t.id) || (!isFinished(t.status) && t.status !== 'todo')) want.add(t.id);
  }
  // What the frontier may show next: unfinished tasks waiting on one in flight or ready (or every
  // unfinished task, on a small board).
  for (const t of all) {
    if (isFinished(t.status) || t.kind === 'goal') continue;
    if (openTasks <= SMALL_BOARD || t.depends_on.some((d) => ready.has(d) || IN_FLIGHT.has(rows.get(d)?.status as Status))) want.add(t.id);
  }
  for (const t of topK(all.filter((t) => t.status === 'done'), 10, byUpdatedDesc as (a: Stub, b: Stub) => number)) want.add(t.id);
  for (const h of Object.values(head.handoffs)) if (rows.has(h.task)) want.add(h.task);
  const goals = biggestProgress([...byGoal.values()]);
  const labels = biggestProgress([...byLabel.values()]);
  // Goals: the frames of the tasks shown, and the rows of STATUS.md's progress.
  const lookups = new Set<string>(goals.map((g) => g.key));
  for (const id of want) {
    const parent = rows.get(id)!.parent;
    if (parent && rows.get(parent)?.kind === 'goal') lookups.add(parent);
  }
  const used = new Map<string, Set<string>>();
  const full = (id: string): Task => {
    const s = shardOf(id);
    let tasks = whole.get(s);
    if (!tasks?.[id]) {
      tasks = readShard(s) ?? undefined;
      if (!tasks?.[id]) throw new BoardMoved(`shard ${s} moved under the render`);
      whole.set(s, tasks);
    }
    let u = used.get(s);
    if (!u) used.set(s, (u = new Set()));
    u.add(id);
    return tasks[id]!;
  };
  let got: Map<string, Task>;
  try {
    got = new Map([...want, ...lookups].map((id) => [id, full(id)]));
  } catch {
    return null; // a shard moved (or the whole read says what is wrong with it)
  }
  for (const g of goals) g.title = got.get(g.key)!.title;

  // ---- the state the render reads: the tasks read whole in the board's order, a stand-in for every other
  const kept: Record<string, Task> = {};
  for (const id of [...want].sort((a, b) => cmp(a, b))) kept[id] = got.get(id)!;
  const keptAll = Object.values(kept);
  const at = new Map<string, number>();
  for (let i = 0; i < all.length; i++) if (want.has(all[i]!.id)) at.set(all[i]!.id, i);
  const critical = new Float64Array(keptAll.length).fill(-1);
  const downstream = new Map<number, number>();
  const keptReady: number[] = [];
  keptAll.forEach((t, k) => {
    const i = at.get(t.id)!;
    critical[k] = measured.critical[i]!;
    if (ready.has(t.id)) {
      keptReady.push(k);
      downstream.set(k, measured.downstream.get(i)!);
    }
  });
  // The lists of work in flight (every task in flight is kept).
  const inFlight = inFlightLists();
  for (const t of keptAll) addInFlight(inFlight, t);
  const tasks: Record<string, Task> = {};
  for (const t of all) tasks[t.id] = got.get(t.id) ?? (t as unknown as Task);
  head.tasks = tasks;
  const view: BoardView = { all: keptAll, depReady: keptReady, critical, downstream, waiting: [], ...inFlight, unfinished, clock: Date.parse(latest) || 0 };
  adoptView(head, view, { counts, total: all.length, progress: { goals, labels }, openTasks });

  const signature = ALL_SHARDS.filter((s) => stamps.get(s) !== '')
    .map((s) => signaturePart(s, stamps.get(s)!))
    .join(',');
  return {
    state: head,
    stamp: { size: read.size, mtime: read.mtime, ctime: read.ctime, ino: read.ino, shards: signature },
    shardsRead,
    keep: (via) => {
      const shards: Cache['shards'] = {};
      for (const [s, ids] of used) {
        const stamp = stamps.get(s)!;
        // Only a settled stamp names one content: a racy shard is read again by the next render.
        if (settled(stamp, read.mtime) === RACY) continue;
        const all = whole.get(s)!;
        const kept: Record<string, Task> = {};
        for (const id of [...ids].sort()) kept[id] = all[id]!;
        shards[s] = [stamp, kept];
      }
      writeFileAtomic(join(dir, CACHE), JSON.stringify({ v: CACHE_VERSION, shards } satisfies Cache), false, via);
    },
  };
}
