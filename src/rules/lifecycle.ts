import { BatonError } from './errors.js';
import { canMove, isFinished, moveTask } from './taskmodel.js';
import type { Intervention } from './intervene.js';
import type { Tx } from './change.js';
import type { Status, Task } from './types.js';

/** A task that became ready because this one finished gets an `unblocked` notification. */
function announceUnblocked(tx: Tx, finished: Task): void {
  for (const t of tx.find.dependents(finished.id)) {
    if (t.status !== 'todo' || !t.depends_on.includes(finished.id)) continue;
    if (t.depends_on.every((d) => { const s = tx.find.status(d); return !s || isFinished(s); })) {
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
    const children = [...tx.find.children(goal.id)].filter((t) => t.parent === goal.id);
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

/** Blocks a task with a reason (block); it remembers where it was, for unblock. */
/** An intervention's part of its event (intervene.ts): who made it, and the holder told in words. */
const told = (iv: Intervention | null) => (iv ? { actor: iv.actor, data: iv.data } : { data: {} });

export function blockTask(tx: Tx, task: Task, reason: string, iv: Intervention | null = null): void {
  const previous = task.status;
  const { actor, data } = told(iv);
  moveTask(tx, task, 'blocked', {
    type: 'task.blocked',
    ...(actor ? { actor } : {}),
    // The words the assignee is told: the reason, and who when it was not theirs to block.
    data: { reason, previous, text: `${task.id} ("${task.title.slice(0, 80)}") is blocked: ${reason}`, ...data },
    notify: { targets: task.assignee ? [`agent:${task.assignee}`, 'orchestrator'] : ['orchestrator'], kind: 'blocker', priority: 'high' },
  });
  task.blocked = { reason, previous, at: tx.now };
  // A blocked task can't be worked on: its lease ends, the assignee is kept for the record.
  task.lease = null;
}

/** Where an unblocked task goes: back where it was, unless that needed a lease it lost. */
function unblockTarget(previous: Status): Status {
  if (previous === 'review' || previous === 'changes_requested' || previous === 'waiting') return previous;
  if (previous === 'in_review') return 'review';
  return 'todo';
}

export function unblockTask(tx: Tx, task: Task, iv: Intervention | null = null): void {
  if (task.status !== 'blocked') {
    throw new BatonError('INVALID_TRANSITION', `Task ${task.id} is ${task.status}, not blocked.`, { hint: `baton show ${task.id}`, details: { task: task.id, from: task.status, to: 'todo' } });
  }
  const to = unblockTarget(task.blocked?.previous ?? 'todo');
  const { actor, data } = told(iv);
  moveTask(tx, task, to, {
    type: 'task.unblocked',
    ...(actor ? { actor } : {}),
    data: { status: to, ...data },
    notify: iv ? { targets: [`agent:${iv.holder.agent}`], kind: 'intervention', priority: 'high' } : null,
  });
  if (to === 'todo') task.assignee = null;
  if (to === 'review') task.reviewer = null;
  task.blocked = null;
}

export function cancelTask(tx: Tx, task: Task, reason: string | null, iv: Intervention | null = null): void {
  const { actor, data } = told(iv);
  moveTask(tx, task, 'cancelled', {
    type: 'task.cancelled',
    ...(actor ? { actor } : {}),
    data: { reason, ...data },
    notify: iv ? { targets: [`agent:${iv.holder.agent}`], kind: 'intervention', priority: 'high' } : null,
  });
  task.lease = null;
  task.blocked = null;
  onFinished(tx, task);
}
