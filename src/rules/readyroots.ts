import { isFinished } from './taskmodel.js';
import type { Kind, Status } from './types.js';

/**
 * The ready roots of the dependency graph and their measures, kept up to date from what a change
 * touched instead of from the whole board: the part of the board index (README, "A write's
 * cost") a write and its render will rank from without reading every task.
 *
 * The graph is rank.ts's: an edge runs from a task on the board to each unfinished task that
 * depends on it. A ready root is a plain todo task whose dependencies are all finished or gone.
 * Its critical path is the longest chain of unfinished tasks below it, weighted by estimate (the
 * root not counted), and its downstream count is how many unfinished tasks it reaches. Both
 * depend only on what the root reaches, so a change to some tasks moves the measures of the
 * roots that reach one of them, before or after it, and the rootness of those tasks and of the
 * tasks that depend on them; nothing else.
 */

/** What the graph needs of a task. */
interface GraphEntry {
  status: Status;
  kind: Kind;
  depends_on: readonly string[];
  estimate: number;
}

/** A board's graph as an index keeps it. */
export interface GraphLookup {
  entry(id: string): GraphEntry | undefined;
  /** The tasks whose depends_on names `id`, whatever their status, also for an id no task has. */
  dependents(id: string): Iterable<string>;
}

export interface RootMeasures {
  critical: number;
  downstream: number;
}

/** Is `id` a ready root: a plain todo task, each dependency finished or not on the board (rank.ts waitsFor)? */
function isReadyRoot(g: GraphLookup, id: string): boolean {
  const e = g.entry(id);
  if (!e || e.status !== 'todo' || e.kind !== 'task') return false;
  for (const d of e.depends_on) {
    const dep = g.entry(d);
    if (dep && !isFinished(dep.status)) return false;
  }
  return true;
}

/** The unfinished tasks an edge runs to from `id` (each once). */
function below(g: GraphLookup, id: string): string[] {
  const out = new Set<string>();
  for (const w of g.dependents(id)) {
    const e = g.entry(w);
    if (e && !isFinished(e.status) && e.depends_on.includes(id)) out.add(w);
  }
  return [...out];
}

/**
 * A root's measures, by one walk of what it reaches; null when the walk meets a cycle (which the
 * commands refuse but a hand edit or a merge can make): the whole board's ranking then decides,
 * as its result with a cycle depends on the order it visits the roots in.
 */
export function measureRoot(g: GraphLookup, root: string): RootMeasures | null {
  const critical = new Map<string, number>();
  const onPath = new Set<string>([root]);
  const stack: { id: string; next: string[]; at: number }[] = [{ id: root, next: below(g, root), at: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.at < top.next.length) {
      const w = top.next[top.at++]!;
      if (onPath.has(w)) return null;
      if (critical.has(w)) continue;
      onPath.add(w);
      stack.push({ id: w, next: below(g, w), at: 0 });
      continue;
    }
    let best = 0;
    for (const w of top.next) best = Math.max(best, g.entry(w)!.estimate + critical.get(w)!);
    critical.set(top.id, best);
    onPath.delete(top.id);
    stack.pop();
  }
  // Every task the walk finished is one the root reaches, the root itself aside.
  return { critical: critical.get(root)!, downstream: critical.size - 1 };
}

/** The tasks from which an edge path runs to one of `ids`: each unfinished task's dependencies, upward. */
function above(g: GraphLookup, ids: Iterable<string>): Set<string> {
  const seen = new Set<string>();
  const todo = [...ids];
  while (todo.length) {
    const e = g.entry(todo.pop()!);
    // No edge runs into a finished task, nor into an id no task has.
    if (!e || isFinished(e.status)) continue;
    for (const d of e.depends_on) {
      if (!seen.has(d) && g.entry(d)) {
        seen.add(d);
        todo.push(d);
      }
    }
  }
  return seen;
}

/**
 * The ready roots after a change to the tasks `changed` (added, edited or removed), from the
 * roots before it: the graph `before` and `after` the change, and the roots' measures before.
 * Null when a root to measure meets a cycle: the caller ranks from the whole board instead.
 *
 * The roots given must come from a whole ranking that met no cycle (rank.ts `BoardView.cyclic`
 * false) or from updates of one that never returned null: with a cycle below a root, the whole
 * ranking's measures depend on the order it walked the roots in, which no update can follow. A
 * cycle a change makes holds a changed task, so each root that reaches it is measured (null).
 * The roots come back in no particular order.
 */
export function updateRoots(before: GraphLookup, after: GraphLookup, roots: ReadonlyMap<string, RootMeasures>, changed: Iterable<string>): Map<string, RootMeasures> | null {
  const ids = [...changed];
  // A task's rootness moves with it and with its dependencies. Who depends on a changed task is
  // the same before and after, but for tasks that changed themselves.
  const look = new Set<string>(ids);
  for (const c of ids) for (const w of after.dependents(c)) look.add(w);
  for (const r of above(before, ids)) look.add(r);
  for (const r of above(after, ids)) look.add(r);
  const next = new Map(roots);
  for (const id of look) {
    if (!isReadyRoot(after, id)) {
      next.delete(id);
      continue;
    }
    const m = measureRoot(after, id);
    if (!m) return null;
    next.set(id, m);
  }
  return next;
}
