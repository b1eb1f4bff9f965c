import { setsOverlap } from './ownedpaths.js';
import { appendTo, cmp } from './json.js';
import { isFinished } from './taskmodel.js';
import type { Agent, Config, State, Status, Task } from './types.js';

import { IN_FLIGHT } from './vocabulary.js';

interface Terms {
  priority: number;
  critical_path: number;
  downstream: number;
  age: number;
}

export interface Candidate {
  task: Task;
  score: number;
  terms: Terms;
}

export interface Skipped {
  task: string;
  reason: string;
}

export interface RankOptions {
  /** Rank for this agent: specialty fit, and paths held by other agents. Null: the board's view. */
  agent: Agent | null;
  /** Milliseconds; the age term counts from the tasks' creation to this. */
  now: number;
  /** Only tasks of this specialty (claim-next --specialty). */
  specialty?: string | null;
  /** Refuse path overlaps (safe, balanced) or only note them (throughput). */
  pathsRefuse: boolean;
  /** The board view of this state, when the caller already built it. */
  view?: BoardView;
}

/**
 * Does a task's specialty fit an agent? An agent that lists specialties takes tasks of those
 * and tasks without one; an agent that lists none is a generalist and fits every task.
 */
export function specialtyFits(task: Task, agent: Agent | null): boolean {
  if (task.specialty === null || agent === null || agent.specialties.length === 0) return true;
  return agent.specialties.includes(task.specialty);
}

/**
 * The dependency graph of the unfinished tasks, by integer index (CSR adjacency of the
 * reverse of depends_on): the ranking walks it once per command on boards of 10,000 tasks,
 * in a process that lives for a fraction of a second, so it avoids maps of strings.
 */
interface Graph {
  tasks: readonly GraphTask[];
  index: Map<string, number>;
  /** dependents of i are adj[start[i] .. start[i+1]) (unfinished tasks only). */
  start: Int32Array;
  adj: Int32Array;
}

/** What the graph needs of a task: a whole task, or its row in the board index (the render's). */
export type GraphTask = Pick<Task, 'id' | 'status' | 'depends_on' | 'estimate'>;

function buildGraph(all: readonly GraphTask[]): Graph {
  const n = all.length;
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) index.set(all[i]!.id, i);
  const count = new Int32Array(n + 1);
  for (const t of all) {
    if (isFinished(t.status)) continue;
    for (const d of t.depends_on) {
      const j = index.get(d);
      if (j !== undefined) count[j + 1]!++;
    }
  }
  for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
  const start = count.slice();
  const fill = count.slice(0, n);
  const adj = new Int32Array(start[n]!);
  for (let i = 0; i < n; i++) {
    const t = all[i]!;
    if (isFinished(t.status)) continue;
    for (const d of t.depends_on) {
      const j = index.get(d);
      if (j !== undefined) adj[fill[j]!++] = i;
    }
  }
  return { tasks: all, index, start, adj };
}

/**
 * Longest chain of unfinished tasks each root unblocks, weighted by estimate (the root itself
 * not counted). Iterative, so a chain of 100,000 tasks can't overflow the stack; a cycle (which
 * the commands refuse, but a hand edit may make) ends a chain.
 */
function criticalPaths(g: Graph, roots: number[]): { memo: Float64Array; cyclic: boolean } {
  const n = g.tasks.length;
  let cyclic = false;
  const memo = new Float64Array(n).fill(-1);
  const onStack = new Uint8Array(n);
  const stackNode = new Int32Array(n);
  const stackEdge = new Int32Array(n);
  for (const root of roots) {
    if (memo[root]! >= 0) continue;
    let top = 0;
    stackNode[0] = root;
    stackEdge[0] = g.start[root]!;
    onStack[root] = 1;
    while (top >= 0) {
      const v = stackNode[top]!;
      const e = stackEdge[top]!;
      if (e < g.start[v + 1]!) {
        stackEdge[top] = e + 1;
        const w = g.adj[e]!;
        if (onStack[w]) cyclic = true;
        else if (memo[w]! < 0) {
          top++;
          stackNode[top] = w;
          stackEdge[top] = g.start[w]!;
          onStack[w] = 1;
        }
        continue;
      }
      let best = 0;
      for (let k = g.start[v]!; k < g.start[v + 1]!; k++) {
        const w = g.adj[k]!;
        const via = g.tasks[w]!.estimate + Math.max(0, memo[w]!);
        if (via > best) best = via;
      }
      memo[v] = best;
      onStack[v] = 0;
      top--;
    }
  }
  return { memo, cyclic };
}

/** How many unfinished tasks wait on `root`, directly or not (a stamp array, no sets). */
function downstreamCount(g: Graph, root: number, seen: Int32Array, stamp: number, queue: Int32Array): number {
  let head = 0;
  let tail = 0;
  let count = 0;
  queue[tail++] = root;
  while (head < tail) {
    const v = queue[head++]!;
    for (let k = g.start[v]!; k < g.start[v + 1]!; k++) {
      const w = g.adj[k]!;
      if (seen[w] !== stamp) {
        seen[w] = stamp;
        count++;
        queue[tail++] = w;
      }
    }
  }
  return count;
}

/** Why a task that waits for nothing is not ready for this agent, or null when it is. */
function notReady(t: Task, opts: RankOptions, held: { task: Task; paths: string[] }[]): string | null {
  if (opts.specialty && t.specialty !== opts.specialty) return `specialty ${t.specialty ?? 'none'}, not ${opts.specialty}`;
  if (!specialtyFits(t, opts.agent)) return `needs specialty ${t.specialty}`;
  if (opts.pathsRefuse && t.owned_paths.length) {
    for (const h of held) {
      const hit = setsOverlap(t.owned_paths, h.paths);
      if (hit) return `paths ${hit[0]} overlap ${hit[1]} of ${h.task.id} (${h.task.assignee ?? h.task.status})`;
    }
  }
  return null;
}

/**
 * What ranking and `next` need that depends on the board alone, not on who asks or when: the
 * tasks, the dependency graph, the todo tasks whose dependencies are finished with their critical
 * path and downstream count, and why the other todo tasks wait. A short-lived command builds it
 * once; a long-lived reader (the MCP server) keeps it for as long as it keeps the (frozen, so
 * unchanging) state it came from, and a call on an unchanged board ranks only what is ready.
 */
export interface BoardView {
  all: Task[];
  /** Plain todo tasks whose dependencies are all finished (indexes into `all`). */
  depReady: number[];
  critical: Float64Array;
  downstream: Map<number, number>;
  /** The other todo tasks, with why (sorted by id). */
  waiting: Skipped[];
  /** In-flight tasks that own paths (claims may not overlap them). */
  holding: Task[];
  /**
   * A root's walk met a cycle (a hand edit or a merge made one): the measures then depend on the
   * order the roots were walked in, and can't be kept from a change (readyroots.ts). Whole views only.
   */
  cyclic?: boolean;
  /** Tasks holding a lease; tasks sent back for changes; in-progress tasks by assignee. */
  leased: Task[];
  sentBack: Task[];
  inProgressBy: Map<string, Task[]>;
  unfinished: number;
  /**
   * A board-level "now" drawn from the state (its latest update), so STATUS.md stays a pure
   * function of it.
   */
  clock: number;
}

/** The board view's lists of work in flight. */
type InFlight = Pick<BoardView, 'holding' | 'leased' | 'sentBack' | 'inProgressBy'>;

/** Empty lists of work in flight, for addInFlight to fill. */
export const inFlightLists = (): InFlight => ({ holding: [], leased: [], sentBack: [], inProgressBy: new Map() });

/** Puts a task in the lists of work in flight it belongs to (boardView, and the read index's view). */
export function addInFlight(lists: InFlight, t: Task): void {
  if (t.lease) lists.leased.push(t);
  if (t.status === 'changes_requested') lists.sentBack.push(t);
  if (t.status === 'in_progress' && t.assignee) appendTo(lists.inProgressBy, t.assignee, t);
  if (IN_FLIGHT.has(t.status) && t.owned_paths.length) lists.holding.push(t);
}

const views = new WeakMap<State, BoardView>();

/** What a state read from the read index (hotindex.ts) can't count itself: it holds only some tasks. */
export interface BoardFacts {
  counts: Record<Status, number>;
  total: number;
  /** From the render's board (renderboard.ts), which counts every task's row: STATUS.md's progress by goal and by label. */
  progress?: { goals: Progress[]; labels: Progress[] };
  /** From the render's board: how many tasks are unfinished and not goals (STATUS.md's graph). */
  openTasks?: number;
}

/** Done of the tasks not cancelled, under one goal or label. */
export interface Progress {
  /** The goal's id, or the label. */
  key: string;
  /** The goal's title; null for a label. */
  title: string | null;
  done: number;
  total: number;
}

const facts = new WeakMap<State, BoardFacts>();

/**
 * Gives a partial state (the read index's) the view and facts of the whole board it was cut
 * from; the state is frozen, so boardView, rankTasks and summarize use them.
 */
export function adoptView(state: State, view: BoardView, f: BoardFacts): void {
  Object.freeze(state);
  views.set(state, view);
  facts.set(state, f);
}

export const boardFacts = (state: State): BoardFacts | undefined => facts.get(state);

export function boardView(state: State): BoardView {
  const frozen = Object.isFrozen(state);
  const kept = frozen ? views.get(state) : undefined;
  if (kept) return kept;
  // Once: Object.values of a 100,000-key object costs tens of milliseconds.
  const all = Object.values(state.tasks);
  const depReady: number[] = [];
  const waiting: Skipped[] = [];
  const inFlight = inFlightLists();
  let unfinished = 0;
  // ISO-8601 UTC strings of one length order like the instants they name: compare, parse once.
  let latest = state.board.created_at;
  for (let i = 0; i < all.length; i++) {
    const t = all[i]!;
    if (t.updated_at > latest) latest = t.updated_at;
    if (!isFinished(t.status)) unfinished++;
    addInFlight(inFlight, t);
    if (t.status !== 'todo') continue;
    const why = waitsFor(state, t);
    if (why) waiting.push({ task: t.id, reason: why });
    else depReady.push(i);
  }
  waiting.sort((a, b) => cmp(a.task, b.task));
  const { critical, downstream, cyclic } = measureRoots(all, depReady);
  const view: BoardView = { all, depReady, critical, downstream, cyclic, waiting, ...inFlight, unfinished, clock: Date.parse(latest) || 0 };
  if (frozen) views.set(state, view);
  return view;
}

/**
 * The ready roots' measures (indexes into `all`): the critical path of each (by index; -1 for a
 * task that is not a root nor below one) and its downstream count; `cyclic` when a walk met a cycle.
 */
export function measureRoots(all: readonly GraphTask[], roots: number[]): { critical: Float64Array; downstream: Map<number, number>; cyclic: boolean } {
  const g = buildGraph(all);
  const { memo: critical, cyclic } = criticalPaths(g, roots);
  const seen = new Int32Array(all.length);
  const queue = new Int32Array(all.length);
  const downstream = new Map<number, number>();
  roots.forEach((i, k) => downstream.set(i, downstreamCount(g, i, seen, k + 1, queue)));
  return { critical, downstream, cyclic };
}

/** Why a todo task waits whoever asks (its kind, an unfinished dependency), or null. */
function waitsFor(state: State, t: Task): string | null {
  if (t.kind !== 'task') return `a ${t.kind}, never claimed`;
  for (const d of t.depends_on) {
    const dep = state.tasks[d];
    if (dep && !isFinished(dep.status)) return `waits for ${d} (${dep.status})`;
  }
  return null;
}

/** Merges two lists sorted by task id. */
function mergeById(a: Skipped[], b: Skipped[]): Skipped[] {
  if (!b.length) return a;
  const out: Skipped[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && cmp(a[i]!.task, b[j]!.task) <= 0) ? a[i++]! : b[j++]!);
  return out;
}

/**
 * The ready tasks, best first (SPEC "Ranking"): score = priority weight + critical path +
 * downstream count + age, weights from config.yaml; ties by creation order, then id.
 */
export function rankTasks(state: State, config: Config, opts: RankOptions): { ranked: Candidate[]; skipped: Skipped[] } {
  const w = config.ranking;
  const view = opts.view ?? boardView(state);
  const held = view.holding.filter((t) => !(opts.agent && t.assignee === opts.agent.id)).map((t) => ({ task: t, paths: t.owned_paths }));
  const ready: number[] = [];
  const mine: Skipped[] = [];
  for (const i of view.depReady) {
    const t = view.all[i]!;
    const why = notReady(t, opts, held);
    if (why) mine.push({ task: t.id, reason: why });
    else ready.push(i);
  }
  const ranked = ready.map((i): Candidate => {
    const task = view.all[i]!;
    const ageDays = Math.max(0, (opts.now - Date.parse(task.created_at)) / 86_400_000);
    const terms: Terms = {
      priority: w.priority * (3 - task.priority),
      critical_path: w.critical_path * Math.max(0, view.critical[i]!),
      downstream: w.downstream * view.downstream.get(i)!,
      age: Math.round(w.age_per_day * ageDays * 1000) / 1000,
    };
    const score = Math.round((terms.priority + terms.critical_path + terms.downstream + terms.age) * 1000) / 1000;
    return { task, score, terms };
  });
  ranked.sort((a, b) => b.score - a.score || cmp(a.task.created_at, b.task.created_at) || cmp(a.task.id, b.task.id));
  mine.sort((a, b) => cmp(a.task, b.task));
  return { ranked, skipped: mergeById(view.waiting, mine) };
}
