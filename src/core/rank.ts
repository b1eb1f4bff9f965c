import { setsOverlap } from './paths.js';
import { cmp } from './json.js';
import { isFinished } from './tasks.js';
import type { Agent, Config, State, Status, Task } from './types.js';

/** Statuses in which a task's owned paths are someone's work in flight. */
export const IN_FLIGHT: ReadonlySet<Status> = new Set(['in_progress', 'review', 'in_review', 'changes_requested', 'handoff']);

export interface Terms {
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
}

/**
 * Does a task's specialty fit an agent? An agent that lists specialties takes tasks of those
 * and tasks without one; an agent that lists none is a generalist and fits every task.
 */
export function specialtyFits(task: Task, agent: Agent | null): boolean {
  if (task.specialty === null || agent === null || agent.specialties.length === 0) return true;
  return agent.specialties.includes(task.specialty);
}

/** Unfinished dependents of every task: the reverse of depends_on. */
function dependentsOf(state: State): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  for (const t of Object.values(state.tasks)) {
    if (isFinished(t.status)) continue;
    for (const d of t.depends_on) {
      const list = out.get(d);
      if (list) list.push(t);
      else out.set(d, [t]);
    }
  }
  return out;
}

/**
 * Longest chain of unfinished tasks each task unblocks, weighted by estimate (itself not
 * counted). Iterative, so a chain of 10,000 tasks can't overflow the stack; cycles (which the
 * commands refuse, but a hand edit may make) count as the end of a chain.
 */
function criticalPaths(state: State, dependents: Map<string, Task[]>, ids: Iterable<string>): Map<string, number> {
  const memo = new Map<string, number>();
  const onStack = new Set<string>();
  for (const root of ids) {
    if (memo.has(root)) continue;
    const stack: [string, number][] = [[root, 0]];
    onStack.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [id, i] = top;
      const deps = dependents.get(id) ?? [];
      if (i < deps.length) {
        top[1]++;
        const next = deps[i]!.id;
        if (!memo.has(next) && !onStack.has(next)) {
          stack.push([next, 0]);
          onStack.add(next);
        }
        continue;
      }
      let best = 0;
      for (const d of deps) best = Math.max(best, d.estimate + (memo.get(d.id) ?? 0));
      memo.set(id, best);
      onStack.delete(id);
      stack.pop();
    }
  }
  return memo;
}

function downstreamCount(dependents: Map<string, Task[]>, id: string): number {
  const seen = new Set<string>();
  const queue = [id];
  while (queue.length) {
    for (const d of dependents.get(queue.pop()!) ?? []) {
      if (!seen.has(d.id)) {
        seen.add(d.id);
        queue.push(d.id);
      }
    }
  }
  return seen.size;
}

/** Why a todo task is not ready (for an agent), or null when it is. */
function notReady(state: State, t: Task, opts: RankOptions, held: { task: Task; paths: string[] }[]): string | null {
  if (t.kind !== 'task') return `a ${t.kind}, never claimed`;
  for (const d of t.depends_on) {
    const dep = state.tasks[d];
    if (dep && !isFinished(dep.status)) return `waits for ${d} (${dep.status})`;
  }
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
 * The ready tasks, best first (SPEC "Ranking"): score = priority weight + critical path +
 * downstream count + age, weights from config.yaml; ties by creation order, then id.
 */
export function rankTasks(state: State, config: Config, opts: RankOptions): { ranked: Candidate[]; skipped: Skipped[] } {
  const w = config.ranking;
  const held: { task: Task; paths: string[] }[] = [];
  for (const t of Object.values(state.tasks)) {
    if (!IN_FLIGHT.has(t.status) || t.owned_paths.length === 0) continue;
    if (opts.agent && t.assignee === opts.agent.id) continue;
    held.push({ task: t, paths: t.owned_paths });
  }
  const ready: Task[] = [];
  const skipped: Skipped[] = [];
  for (const t of Object.values(state.tasks)) {
    if (t.status !== 'todo') continue;
    const why = notReady(state, t, opts, held);
    if (why) skipped.push({ task: t.id, reason: why });
    else ready.push(t);
  }
  const dependents = dependentsOf(state);
  const cp = criticalPaths(state, dependents, ready.map((t) => t.id));
  const ranked = ready.map((task): Candidate => {
    const ageDays = Math.max(0, (opts.now - Date.parse(task.created_at)) / 86_400_000);
    const terms: Terms = {
      priority: w.priority * (3 - task.priority),
      critical_path: w.critical_path * (cp.get(task.id) ?? 0),
      downstream: w.downstream * downstreamCount(dependents, task.id),
      age: Math.round(w.age_per_day * ageDays * 1000) / 1000,
    };
    const score = Math.round((terms.priority + terms.critical_path + terms.downstream + terms.age) * 1000) / 1000;
    return { task, score, terms };
  });
  ranked.sort((a, b) => b.score - a.score || cmp(a.task.created_at, b.task.created_at) || cmp(a.task.id, b.task.id));
  skipped.sort((a, b) => cmp(a.task, b.task));
  return { ranked, skipped };
}

/** A board-level "now" drawn from the state, so STATUS.md stays a pure function of it. */
export function stateClock(state: State): number {
  let latest = Date.parse(state.board.created_at) || 0;
  for (const t of Object.values(state.tasks)) {
    const u = Date.parse(t.updated_at);
    if (u > latest) latest = u;
  }
  return latest;
}
