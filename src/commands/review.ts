import { historyOf } from '../store/eventlog.js';
import { sweepExpiredLeases } from '../rules/leases.js';
import { invalidInput } from '../rules/errors.js';
import { checkId } from '../rules/ids.js';
import { giveVerdict, type Review, startNextReview, startReview } from '../rules/reviewing.js';
import { checkNote, getTask, type TaskJson, toTaskJson } from '../rules/taskmodel.js';
import { untilWork } from '../store/waiting.js';
import { boardDir, type Ctx, mutateAs } from './context.js';

export interface ReviewResult extends Review {
  revision: number;
}

export async function start(rawId: string, ctx: Ctx): Promise<ReviewResult> {
  const id = checkId(rawId, 'task id');
  const r = await mutateAs(ctx, (tx, me) => {
    sweepExpiredLeases(tx);
    return startReview(tx, me, getTask(tx.state, id));
  });
  return { revision: r.revision, ...r.value };
}

export async function next(o: { watch?: number }, ctx: Ctx): Promise<ReviewResult> {
  return untilWork(boardDir(ctx), o.watch ?? null, ctx.stop, async () => {
    const r = await mutateAs(ctx, (tx, me) => {
      sweepExpiredLeases(tx);
      return startNextReview(tx, me);
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
    giveVerdict(tx, historyOf(dir, tx.state), me, task, kind, notes, o.leaseToken);
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

export function renderReview(r: ReviewResult): string {
  return [`Reviewing ${r.task.id}: ${r.task.title.replace(/\s+/g, ' ').slice(0, 80)} (lease until ${r.lease.expires_at})`, `Then: baton review approve ${r.task.id}  or  baton review reject ${r.task.id} --notes "…"`].join('\n');
}

export const renderApprove = (r: { task: TaskJson }) => `${r.task.id} approved: done.`;

export const renderReject = (r: { task: TaskJson }) => `${r.task.id} sent back to ${r.task.assignee ?? 'its author'}.`;
