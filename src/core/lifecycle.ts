import { canMove, isFinished, moveTask } from './tasks.js';
import type { Tx } from './tx.js';
import type { Task } from './types.js';

/** A task that became ready because this one finished gets an `unblocked` notification. */
export function announceUnblocked(tx: Tx, finished: Task): void {
  for (const t of Object.values(tx.state.tasks)) {
    if (t.status !== 'todo' || !t.depends_on.includes(finished.id)) continue;
    if (t.depends_on.every((d) => !tx.state.tasks[d] || isFinished(tx.state.tasks[d]!.status))) {
      tx.emit({ type: 'task.ready', task: t.id, data: { after: finished.id }, notify: { targets: [t.specialty ? `workers:${t.specialty}` : 'workers'], kind: 'unblocked', priority: 'normal' } });
    }
  }
}

/**
 * A goal is done when all its children are finished and at least one is done (a goal whose
 * children were all cancelled stays open for someone to decide). Completing a goal may
 * complete its own parent goal, and so on up.
 */
export function completeGoals(tx: Tx, finished: Task): void {
  let child = finished;
  for (let depth = 0; depth < 64 && child.parent; depth++) {
    const goal = tx.state.tasks[child.parent];
    // A goal the table can't move to done (finished, blocked, or put in review by an import)
    // is left for someone to decide.
    if (!goal || goal.kind !== 'goal' || !canMove(goal, 'done')) return;
    const children = Object.values(tx.state.tasks).filter((t) => t.parent === goal.id);
    if (!children.every((c) => isFinished(c.status)) || !children.some((c) => c.status === 'done')) return;
    goal.lease = null;
    moveTask(tx, goal, 'done', { type: 'goal.completed', data: { children: children.map((c) => c.id).sort() }, notify: { targets: ['orchestrator'], kind: 'goal-done', priority: 'normal' } });
    announceUnblocked(tx, goal);
    child = goal;
  }
}

/** Everything that follows a task reaching done or cancelled. */
export function onFinished(tx: Tx, task: Task): void {
  announceUnblocked(tx, task);
  completeGoals(tx, task);
}
