import { type Me } from './change.js';
import { grantLease } from './leases.js';
import { BatonError } from './errors.js';
import { cmp } from './json.js';
import { type History, leaseConflict } from './leases.js';
import { onFinished } from './lifecycle.js';
import { specialtyFits } from './rank.js';
import { moveTask, type TaskJson, toTaskJson } from './taskmodel.js';
import type { Tx } from './change.js';
import type { Agent, State, Task } from './types.js';

/** A review as the reviewer that started it sees it (the lease token is shown this once). */
export interface Review {
  task: TaskJson;
  lease_token: string;
  lease: { expires_at: string };
}

/** Review candidates for a reviewer: in `review`, fitting its specialty, not its own work. */
export function reviewQueue(state: State, agent: Agent, allowSelf: boolean): Task[] {
  return Object.values(state.tasks)
    .filter((t) => t.status === 'review' && specialtyFits(t, agent) && (allowSelf || t.assignee !== agent.id))
    .sort((a, b) => a.priority - b.priority || cmp(a.updated_at, b.updated_at) || cmp(a.id, b.id));
}

/** Gives a task waiting in review to the calling reviewer, with a lease. */
export function startReview(tx: Tx, me: Me, task: Task): Review {
  if (task.status !== 'review') {
    throw new BatonError('INVALID_TRANSITION', `Task ${task.id} is ${task.status}; only a task waiting in review can be reviewed.`, {
      hint: 'baton review next',
      details: { task: task.id, from: task.status, to: 'in_review' },
    });
  }
  if (task.assignee === me.agentId && !tx.config.review.allow_self_review) {
    throw new BatonError('NOT_YOURS', `You wrote ${task.id}; another agent must review it (config.yaml review.allow_self_review is false).`, {
      hint: 'baton next',
      details: { task: task.id, from: task.status, to: 'in_review', reason: 'self-review' },
    });
  }
  task.reviewer = me.agentId;
  const { token, expires_at } = grantLease(tx, task, me.session.id);
  moveTask(tx, task, 'in_review', { type: 'review.started', data: { reviewer: me.agentId } });
  return { task: toTaskJson(task), lease_token: token, lease: { expires_at } };
}

/** Starts the first review in the calling reviewer's queue, or NO_WORK. */
export function startNextReview(tx: Tx, me: Me): Review {
  const agent = tx.state.agents[me.agentId]!;
  const first = reviewQueue(tx.state, agent, tx.config.review.allow_self_review)[0];
  if (!first) throw new BatonError('NO_WORK', `Nothing waits for a review by ${agent.id}.`, { hint: 'baton review next --watch 60' });
  return startReview(tx, me, first);
}

/** The reviewer's verdict: approve finishes the task, reject sends it back to its author. */
export function giveVerdict(tx: Tx, history: History, me: Me, task: Task, kind: 'approve' | 'reject', notes: string | null, leaseToken: string | undefined): void {
  if (task.status !== 'in_review') {
    throw new BatonError('INVALID_TRANSITION', `Task ${task.id} is ${task.status}, not in review; start with baton review start ${task.id}.`, { hint: `baton review start ${task.id}`, details: { task: task.id, from: task.status, to: kind === 'approve' ? 'done' : 'changes_requested' } });
  }
  leaseConflict(history, tx.state, task, me, leaseToken, Date.parse(tx.now));
  if (notes) task.notes.push({ at: tx.now, author: me.agentId, text: notes });
  task.lease = null;
  const author = task.assignee;
  if (kind === 'approve') {
    moveTask(tx, task, 'done', { type: 'review.approved', data: { notes }, notify: author ? { targets: [`agent:${author}`], kind: 'approved', priority: 'normal' } : null });
    onFinished(tx, task);
  } else {
    moveTask(tx, task, 'changes_requested', { type: 'review.rejected', data: { notes }, notify: author ? { targets: [`agent:${author}`], kind: 'changes-requested', priority: 'high' } : null });
  }
}
