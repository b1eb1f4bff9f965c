import { cmp } from './json.js';
import type { Config, State, Status, Task } from './types.js';
import { STATUSES } from './types.js';
import { PROFILE_LIMITS } from './agents.js';
import { rankTasks, stateClock } from './rank.js';
import { isFinished } from './tasks.js';

export interface BoardSummary {
  project: string;
  revision: number;
  profile: Config['profile'];
  total: number;
  counts: Record<Status, number>;
  in_progress: Task[];
  review_queue: Task[];
  ready: Task[];
  ready_count: number;
  blocked: Task[];
  recently_done: Task[];
}

const byUpdatedDesc = (a: Task, b: Task) => cmp(b.updated_at, a.updated_at) || cmp(a.id, b.id);
const byPriority = (a: Task, b: Task) => a.priority - b.priority || cmp(a.created_at, b.created_at) || cmp(a.id, b.id);

/** The board at a glance; `limit` caps each list (the counts are always whole). */
export function summarize(state: State, config: Config, limit = 10): BoardSummary {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  const inProgress: Task[] = [];
  const review: Task[] = [];
  const blocked: Task[] = [];
  const done: Task[] = [];
  const tasks = Object.values(state.tasks);
  for (const t of tasks) {
    counts[t.status]++;
    if (t.status === 'in_progress' || t.status === 'handoff' || t.status === 'changes_requested') inProgress.push(t);
    else if (t.status === 'review' || t.status === 'in_review') review.push(t);
    else if (t.status === 'blocked') blocked.push(t);
    else if (t.status === 'done') done.push(t);
  }
  const ready = rankTasks(state, config, { agent: null, now: stateClock(state), pathsRefuse: PROFILE_LIMITS[config.profile].pathsRefuse }).ranked.map((c) => c.task);
  return {
    project: config.name || state.board.name,
    revision: state.revision,
    profile: config.profile,
    total: tasks.length,
    counts,
    in_progress: inProgress.sort(byPriority).slice(0, limit * 5),
    review_queue: review.sort(byPriority).slice(0, limit * 5),
    ready: ready.slice(0, limit),
    ready_count: ready.length,
    blocked: blocked.sort(byPriority).slice(0, limit * 5),
    recently_done: topK(done, limit, byUpdatedDesc),
  };
}

/**
 * The first `k` items in `compare` order without sorting them all (boards of 10,000 tasks
 * render STATUS.md on every write): one pass keeping a sorted window of k.
 */
function topK<T>(items: T[], k: number, compare: (a: T, b: T) => number): T[] {
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

/** Unfinished tasks for the dependency graph, most relevant first, capped. */
export function graphTasks(state: State, cap: number): { tasks: Task[]; total: number } {
  const rank: Partial<Record<Status, number>> = { in_progress: 0, review: 1, in_review: 1, changes_requested: 1, handoff: 1, blocked: 2, waiting: 2, todo: 3 };
  const open = Object.values(state.tasks).filter((t) => !isFinished(t.status));
  const order = (a: Task, b: Task) => (rank[a.status] ?? 4) - (rank[b.status] ?? 4) || byPriority(a, b);
  return { tasks: topK(open, cap, order), total: open.length };
}
