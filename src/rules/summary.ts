import { cmp } from './json.js';
import type { Config, State, Status, Task } from './types.js';
import { STATUSES } from './types.js';
import { PROFILE_LIMITS } from './sessions.js';
import { boardFacts, boardView, type Candidate, type Progress, rankTasks } from './rank.js';
import { IN_FLIGHT } from './vocabulary.js';
import { isFinished } from './taskmodel.js';

export interface BoardSummary {
  project: string;
  revision: number;
  profile: Config['profile'];
  total: number;
  counts: Record<Status, number>;
  in_progress: Task[];
  review_queue: Task[];
  ready: Task[];
  /** The first of `ready` with the terms of their score (why each ranks where it does). */
  ready_ranked: Candidate[];
  ready_count: number;
  /** Gates waiting for their signal (the first of them), and how many there are. */
  gates_waiting: Task[];
  gates_waiting_count: number;
  /**
   * Progress by goal and by label, from a whole state only (a read-index state holds only some
   * tasks): each goal's children and each label's tasks, done of those not cancelled.
   */
  goals: Progress[];
  labels: Progress[];
  /** Every ready task, best first, and every unfinished task (STATUS.md's graph takes its frontier from them). */
  ranked_ready: Task[];
  open: Task[];
  blocked: Task[];
  recently_done: Task[];
}

/** How many goals and labels STATUS.md lists (the biggest first), so a board of many stays a page. */
const PROGRESS_ROWS = 10;

/** Newest update first, ties by id: the order of "recently done". */
export const byUpdatedDesc = (a: Task, b: Task) => cmp(b.updated_at, a.updated_at) || cmp(a.id, b.id);
const byPriority = (a: Task, b: Task) => a.priority - b.priority || cmp(a.created_at, b.created_at) || cmp(a.id, b.id);

/**
 * The board at a glance; `limit` caps each list (the counts are always whole). `archivedDone`: the
 * most recently done of the archive, so "recently done" keeps recent work once it is archived.
 */
export function summarize(state: State, config: Config, limit = 10, archivedDone: readonly Task[] = []): BoardSummary {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  const inProgress: Task[] = [];
  const review: Task[] = [];
  const blocked: Task[] = [];
  const done: Task[] = [];
  const open: Task[] = [];
  const gates: Task[] = [];
  const byGoal = new Map<string, Progress>();
  const byLabel = new Map<string, Progress>();
  // One view of the board for the lists and the ranking (kept with a frozen state).
  const view = boardView(state);
  const tasks = view.all;
  // A state from the read index or the render's board holds only the tasks these lists read: the board's counts come with it.
  const whole = boardFacts(state);
  for (const t of tasks) {
    counts[t.status]++;
    if (!isFinished(t.status)) open.push(t);
    if (t.status === 'in_progress' || t.status === 'handoff' || t.status === 'changes_requested') inProgress.push(t);
    else if (t.status === 'review' || t.status === 'in_review') review.push(t);
    else if (t.status === 'blocked') blocked.push(t);
    else if (t.status === 'done') done.push(t);
    if (t.kind === 'gate' && t.status === 'waiting') gates.push(t);
    if (!whole && t.kind !== 'goal') {
      const goal = t.parent ? state.tasks[t.parent] : undefined;
      if (goal?.kind === 'goal') countProgress(byGoal, goal.id, goal.title, t.status);
      for (const l of t.labels) countProgress(byLabel, l, null, t.status);
    }
  }
  const ranked = rankTasks(state, config, { agent: null, now: view.clock, pathsRefuse: PROFILE_LIMITS[config.profile].pathsRefuse, view }).ranked;
  const ready = ranked.map((c) => c.task);
  const biggest = (map: Map<string, Progress>) => biggestProgress([...map.values()]);
  return {
    project: config.name || state.board.name,
    revision: state.revision,
    profile: config.profile,
    total: whole?.total ?? tasks.length,
    counts: whole ? { ...whole.counts } : counts,
    in_progress: inProgress.sort(byPriority).slice(0, limit * 5),
    review_queue: review.sort(byPriority).slice(0, limit * 5),
    ready: ready.slice(0, limit),
    ready_ranked: ranked.slice(0, limit),
    ready_count: ready.length,
    gates_waiting: gates.sort(byPriority).slice(0, limit * 5),
    gates_waiting_count: gates.length,
    goals: whole ? (whole.progress?.goals ?? []) : biggest(byGoal),
    labels: whole ? (whole.progress?.labels ?? []) : biggest(byLabel),
    ranked_ready: ready,
    open,
    blocked: blocked.sort(byPriority).slice(0, limit * 5),
    recently_done: topK(archivedDone.length ? [...done, ...archivedDone.filter((t) => !state.tasks[t.id])] : done, limit, byUpdatedDesc),
  };
}

/** Counts a task of this status under a goal or a label: done of those not cancelled. */
export function countProgress(map: Map<string, Progress>, key: string, title: string | null, status: Status): void {
  if (status === 'cancelled') return;
  const p = map.get(key) ?? { key, title, done: 0, total: 0 };
  p.total++;
  if (status === 'done') p.done++;
  map.set(key, p);
}

/** The goals or labels STATUS.md lists: the biggest first, ties by key. */
export const biggestProgress = (all: Progress[]): Progress[] => all.sort((a, b) => b.total - a.total || cmp(a.key, b.key)).slice(0, PROGRESS_ROWS);

/**
 * The first `k` items in `compare` order without sorting them all (boards of 10,000 tasks
 * render STATUS.md on every write): one pass keeping a sorted window of k.
 */
export function topK<T>(items: T[], k: number, compare: (a: T, b: T) => number): T[] {
  const out: T[] = [];
  for (const x of items) {
    if (out.length === k && compare(x, out[k - 1]!) >= 0) continue;
    let i = out.length;
    while (i > 0 && compare(x, out[i - 1]!) < 0) i--;
    out.splice(i, 0, x);
    if (out.length > k) out.pop();
  }
  return out;
}

/** What STATUS.md's graph shows: its tasks (in the order they were chosen) and why each is there. */
export interface Frontier {
  tasks: { task: Task; why: 'in flight' | 'ready' | 'unblocked next' | 'unfinished' }[];
  /** Unfinished tasks on the board. */
  total: number;
  /** True when every unfinished task is shown (a small board), false when only the frontier is. */
  whole: boolean;
  in_flight: number;
  ready: number;
}

/**
 * The graph's tasks. A board with at most `cap` unfinished tasks shows them all. A bigger one
 * shows its frontier, in this order until `fits` says no more: every task in flight, the ready
 * tasks best first, then the unfinished tasks that those wait on nothing else but them for
 * (what they unblock next), then their other direct dependents.
 */
export function frontier(state: State, s: BoardSummary, cap: number, fits: (chosen: Task[], next: Task) => boolean): Frontier {
  const open = s.open;
  const inFlight = open.filter((t) => IN_FLIGHT.has(t.status)).sort(byPriority);
  const order = (a: Task, b: Task) => (IN_FLIGHT.has(a.status) ? 0 : 1) - (IN_FLIGHT.has(b.status) ? 0 : 1) || byPriority(a, b);
  const chosen: Frontier['tasks'] = [];
  const picked = new Set<string>();
  const take = (t: Task, why: Frontier['tasks'][number]['why']): boolean => {
    if (picked.has(t.id)) return true;
    if (chosen.length >= cap || !fits(chosen.map((c) => c.task), t)) return false;
    chosen.push({ task: t, why });
    picked.add(t.id);
    return true;
  };
  // The render's board holds only the tasks the frontier may show (and, on a small board, all of them).
  const total = boardFacts(state)?.openTasks ?? open.length;
  if (total <= cap) {
    for (const t of [...open].sort(order)) take(t, IN_FLIGHT.has(t.status) ? 'in flight' : 'unfinished');
    return { tasks: chosen, total, whole: chosen.length === total, in_flight: inFlight.length, ready: s.ready_count };
  }
  for (const t of inFlight) if (!take(t, 'in flight')) break;
  // Half of the room left for the best ready tasks, the other half for what the shown ones
  // unblock next (then any room still left for more ready tasks).
  const readyRoom = Math.max(10, Math.floor((cap - chosen.length) / 2));
  let shownReady = 0;
  for (const t of s.ranked_ready) {
    if (shownReady >= readyRoom || !take(t, 'ready')) break;
    shownReady++;
  }
  // What the shown tasks unblock: first the tasks left waiting on shown tasks only, then the rest.
  // One pass over the board (no map of every task's dependents: this runs on every write).
  const next = open.filter((t) => !picked.has(t.id) && t.depends_on.some((d) => picked.has(d)));
  const soon = (t: Task) => t.depends_on.every((d) => picked.has(d) || !state.tasks[d] || isFinished(state.tasks[d]!.status));
  // What the work in flight unblocks comes first, then what the ready tasks do.
  const afterFlight = (t: Task) => t.depends_on.some((d) => state.tasks[d] && IN_FLIGHT.has(state.tasks[d]!.status));
  const ordered = [...next.filter(soon), ...next.filter((t) => !soon(t))];
  for (const t of [...ordered.filter(afterFlight), ...ordered.filter((t) => !afterFlight(t))]) if (!take(t, 'unblocked next')) break;
  for (const t of s.ranked_ready.slice(shownReady)) if (!take(t, 'ready')) break;
  return { tasks: chosen, total, whole: false, in_flight: inFlight.length, ready: s.ready_count };
}
