import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { addInFlight, adoptView, type BoardView, boardFacts, boardView, inFlightLists } from '../rules/rank.js';
import { FILES, readStateText, shardSignature, writeFileAtomic } from './store.js';
import { isFinished } from '../rules/taskmodel.js';
import { byUpdatedDesc, topK } from '../rules/summary.js';
import { STATUSES, type State, type Status, type Task } from '../rules/types.js';

/**
 * The read index (SPEC §13: reads cost what the work in flight costs, not what the board holds).
 * `.baton.lock.index` holds what `next`, `status` and `list --ready` need and nothing else: the
 * agents, sessions and handoffs, the tasks that are not waiting (in flight, blocked, in review,
 * ready, plus the ten most recently done), the ready tasks' critical path and downstream count,
 * the counts by status and the board's clock. It is written whole (temp file, rename) by every
 * render, from the very state.json it read, and names that file by its stamp: size, mtime,
 * ctime and inode, taken with fstat on the descriptor it was read from.
 *
 * A reader stats state.json and reads its revision (stateHead), and uses the index only when both
 * are equal to the index's; anything else
 * (no index, an older one, a crash between the commit and the render, git or a person changing
 * state.json) falls back to reading state.json whole. Every commit renames a new state.json into
 * place, so its stamp never equals an older one's. The index is local to a clone (`.baton.lock.*`
 * is git-ignored) and never a source of truth: deleting it only costs speed.
 */

const INDEX = '.baton.lock.index';
const VERSION = 2;

export interface Stamp {
  size: number;
  mtime: number;
  ctime: number;
  ino: number;
  /** The task shards' stamps (store.ts shardSignature): a hand edit of a shard alone changes it. */
  shards?: string;
}

interface HotIndex {
  v: number;
  stamp: Stamp;
  revision: number;
  clock: number;
  total: number;
  counts: Record<Status, number>;
  unfinished: number;
  /** The state without its waiting and finished tasks (but the ten most recently done). */
  state: State;
  /** The ready roots, in the board view's order: [id, critical path, downstream count]. */
  ready: [string, number, number][];
}

const stampOfFd = (fd: number): Stamp => {
  const st = fstatSync(fd);
  return { size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, ino: st.ino };
};
/** A file's stamp by path (a writer's own state.json, just renamed into place under the lock). */
export function stampOfFile(path: string): Stamp | null {
  try {
    const st = statSync(path);
    return { size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, ino: st.ino };
  } catch {
    return null;
  }
}

export const sameStamp = (a: Stamp, b: Stamp) => a.size === b.size && a.mtime === b.mtime && a.ctime === b.ctime && a.ino === b.ino && (a.shards ?? '') === (b.shards ?? '');

/**
 * state.json's stamp and revision without parsing it: the top-level `"revision"` line comes
 * after the agents, board and handoffs (sorted keys), so the first few kilobytes usually hold it. The
 * revision makes the stamp exact where a file system keeps mtime to the second and reuses
 * inodes (two commits in one second may then have equal stamps, never equal revisions). Null
 * when the file is missing or has no such line (a hand edit in another layout): callers read it whole.
 */
export function stateHead(dir: string): { stamp: Stamp; revision: number } | null {
  let fd: number;
  try {
    fd = openSync(join(dir, FILES.state), 'r');
  } catch {
    return null;
  }
  try {
    const stamp = stampOfFd(fd);
    stamp.shards = shardSignature(dir);
    // Read on until the line is found: near the top unless the handoffs are many and long.
    const buf = Buffer.allocUnsafe(stamp.size);
    let got = 0;
    for (let want = 16 * 1024; got < buf.length; want *= 4) {
      const n = readSync(fd, buf, got, Math.min(want, buf.length) - got, got);
      if (n <= 0) break;
      got += n;
      const m = /\n {2}"revision": (\d+),\n/.exec(buf.toString('latin1', Math.max(0, got - n - 64), got));
      if (m) return { stamp, revision: Number(m[1]) };
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

/** state.json parsed, with the stamp of the very file read (renderlock.ts reads the board this way). */
export async function readStampedState(dir: string): Promise<{ state: State; stamp: Stamp }> {
  const { state, stamp, signature } = await readStateText(dir, true);
  return { state, stamp: { ...stamp, shards: signature } };
}

export const hotIndexExists = (dir: string): boolean => existsSync(join(dir, INDEX));

/** Writes the index of `state` (read from the file `stamp` names); `via`: the render lock's fence. */
export function writeHotIndex(dir: string, state: State, stamp: Stamp, via?: string): void {
  const view = boardView(state);
  // The render's board (renderboard.ts) holds only some tasks, and the board's counts with them.
  const facts = boardFacts(state);
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  const ready = new Set(view.depReady.map((i) => view.all[i]!.id));
  const done: Task[] = [];
  const tasks: Record<string, Task> = {};
  const handedOff = new Set(Object.values(state.handoffs).filter((h) => h.state === 'open').map((h) => h.task));
  for (const t of view.all) {
    counts[t.status]++;
    if (t.status === 'done') done.push(t);
    // Everything the board view lists (leases, in flight, sent back) and `next` looks up, whatever its status.
    if ((!isFinished(t.status) && (t.status !== 'todo' || ready.has(t.id))) || t.lease || handedOff.has(t.id)) tasks[t.id] = t;
  }
  // The ten most recently done (STATUS.md's and status's "recently done"), ties by id.
  for (const t of topK(done, 10, byUpdatedDesc)) tasks[t.id] = t;
  const { tasks: _all, ...rest } = state;
  const index: HotIndex = {
    v: VERSION,
    stamp,
    revision: state.revision,
    clock: view.clock,
    total: facts?.total ?? view.all.length,
    counts: facts ? { ...facts.counts } : counts,
    unfinished: view.unfinished,
    // In the board's own order, so every list built from it comes out as the full state's would.
    state: { ...rest, tasks: Object.fromEntries(view.all.filter((t) => tasks[t.id]).map((t) => [t.id, t])) },
    ready: view.depReady.map((i) => [view.all[i]!.id, view.critical[i]!, view.downstream.get(i)!]),
  };
  writeFileAtomic(join(dir, INDEX), JSON.stringify(index), false, via);
}

/**
 * The board as the hot reads see it, from the index when it names the current state.json: a
 * state holding only the tasks they read, frozen, with its board view, clock and counts adopted
 * (rank.ts), so ranking, `next` and the summary answer exactly as on the full state. Null when
 * the index can't be trusted: the caller reads state.json.
 */
export function readHotState(dir: string): State | null {
  let index: HotIndex;
  try {
    const head = stateHead(dir);
    if (!head) return null;
    index = JSON.parse(readFileSync(join(dir, INDEX), 'utf8')) as HotIndex;
    if (index.v !== VERSION || !index.stamp || !sameStamp(index.stamp, head.stamp) || index.revision !== head.revision || index.state?.revision !== index.revision) return null;
  } catch {
    return null;
  }
  const state = index.state;
  const all = Object.values(state.tasks);
  const at = new Map(all.map((t, i) => [t.id, i]));
  const critical = new Float64Array(all.length).fill(-1);
  const downstream = new Map<number, number>();
  const depReady: number[] = [];
  for (const [id, cp, ds] of index.ready) {
    const i = at.get(id);
    if (i === undefined) return null;
    depReady.push(i);
    critical[i] = cp;
    downstream.set(i, ds);
  }
  const inFlight = inFlightLists();
  for (const t of all) addInFlight(inFlight, t);
  // Why the waiting tasks wait is not in the index: `--explain` reads state.json.
  const view: BoardView = { all, depReady, critical, downstream, waiting: [], ...inFlight, unfinished: index.unfinished, clock: index.clock };
  adoptView(state, view, { counts: index.counts, total: index.total });
  return state;
}
