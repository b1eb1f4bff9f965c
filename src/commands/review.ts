import { grantLease, sweepExpiredLeases } from '../core/agents.js';
import { BatonError, invalidInput } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import { checkNote, getTask, moveTask, type TaskJson, toTaskJson } from '../core/tasks.js';
import type { Tx } from '../core/tx.js';
import type { Task } from '../core/types.js';
import { parseWatch, untilWork } from '../core/watch.js';
import { type Me, mutateAs } from './agents.js';
import { boardDir, type Ctx } from './context.js';
import { leaseConflict } from './leases.js';
import { onFinished } from '../core/lifecycle.js';
import { type ClaimResult, reviewQueue } from './work.js';

export type ReviewResult = Omit<ClaimResult, 'warnings'>;

function startReview(tx: Tx, me: Me, task: Task): Omit<ReviewResult, 'revision'> {
  if (task.status !== 'review') {
    throw new BatonError('INVALID_TRANSITION', `Task ${task.id} is ${task.status}; only a task waiting in review can be reviewed.`, {
      hint: 'baton review next',
      details: { task: task.id, from: task.status, to: 'in_review' },
    });
  }
  if (task.assignee === me.agentId && !tx.config.review.allow_self_review) {
    throw new BatonError('INVALID_TRANSITION', `You wrote ${task.id}; another agent must review it (config.yaml review.allow_self_review is false).`, {
      hint: 'baton next',
      details: { task: task.id, from: task.status, to: 'in_review', reason: 'self-review' },
    });
  }
  task.reviewer = me.agentId;
  const { token, expires_at } = grantLease(tx, task, me.session.id);
  moveTask(tx, task, 'in_review', { type: 'review.started', data: { reviewer: me.agentId } });
  return { task: toTaskJson(task), lease_token: token, lease: { expires_at } };
}

export async function start(rawId: string, ctx: Ctx): Promise<ReviewResult> {
  const id = checkId(rawId, 'task id');
  const r = await mutateAs(ctx, (tx, me) => {
    sweepExpiredLeases(tx);
    return startReview(tx, me, getTask(tx.state, id));
  });
  return { revision: r.revision, ...r.value };
}

export async function next(o: { watch?: string }, ctx: Ctx): Promise<ReviewResult> {
  return untilWork(boardDir(ctx), parseWatch(o.watch), async () => {
    const r = await mutateAs(ctx, (tx, me) => {
      sweepExpiredLeases(tx);
      const agent = tx.state.agents[me.agentId]!;
      const first = reviewQueue(tx.state, agent, tx.config.review.allow_self_review)[0];
      if (!first) throw new BatonError('NO_WORK', `Nothing waits for a review by ${agent.id}.`, { hint: 'baton review next --watch 60' });
      return startReview(tx, me, first);
    });
    return { revision: r.revision, ...r.value };
  });
}

export async function verdict(kind: 'approve' | 'reject', rawId: string, o: { notes?: string; leaseToken?: string }, ctx: Ctx): Promise<{ revision: number; task: TaskJson }> {
  const id = checkId(rawId, 'task id');
  const notes = o.notes === undefined ? null : checkNote(o.notes);
  if (kind === 'reject' && !notes?.trim()) throw invalidInput('Say what must change: --notes "…".');
  const dir = boardDir(ctx);
  const r = await mutateAs(ctx, (tx, me) => {
    const task = getTask(tx.state, id);
    if (task.status !== 'in_review') {
      throw new BatonError('INVALID_TRANSITION', `Task ${id} is ${task.status}, not in review; start with baton review start ${id}.`, { hint: `baton review start ${id}`, details: { task: id, from: task.status, to: kind === 'approve' ? 'done' : 'changes_requested' } });
    }
    leaseConflict(dir, tx.state, task, me, o.leaseToken, Date.parse(tx.now));
    if (notes) task.notes.push({ at: tx.now, author: me.agentId, text: notes });
    task.lease = null;
    const author = task.assignee;
    if (kind === 'approve') {
      moveTask(tx, task, 'done', { type: 'review.approved', data: { notes }, notify: author ? { targets: [`agent:${author}`], kind: 'approved', priority: 'normal' } : null });
      onFinished(tx, task);
    } else {
      moveTask(tx, task, 'changes_requested', { type: 'review.rejected', data: { notes }, notify: author ? { targets: [`agent:${author}`], kind: 'changes-requested', priority: 'high' } : null });
    }
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

export function renderReview(r: ReviewResult): string {
  return [`Reviewing ${r.task.id}: ${r.task.title.replace(/\s+/g, ' ').slice(0, 80)} (lease until ${r.lease.expires_at})`, `Then: baton review approve ${r.task.id}  or  baton review reject ${r.task.id} --notes "…"`].join('\n');
}
