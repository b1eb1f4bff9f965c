import { authenticate } from '../rules/sessions.js';
import { invalidInput } from '../rules/errors.js';
import { gitContext } from '../git/diffstat.js';
import { ackHandoff, type HandedOver, handOver, type Take, takeHandoff, takeNextHandoff } from '../rules/handover.js';
import { checkId } from '../rules/ids.js';
import { bounded, cmp } from '../rules/json.js';
import { handoffsFor, parseTarget } from '../rules/notify.js';
import { checkNote } from '../rules/taskmodel.js';
import type { Handoff } from '../rules/types.js';
import { untilWork } from '../store/waiting.js';
import { historyOf, recentOfTask } from '../store/eventlog.js';
import { boardDir, type Ctx, load, mutateAs } from './context.js';

export type HandoffJson = Omit<Handoff, never>;

export interface HandoffResult extends HandedOver {
  revision: number;
}

export async function handoff(rawId: string, o: { to?: string; notes?: string; leaseToken?: string }, ctx: Ctx): Promise<HandoffResult> {
  const id = checkId(rawId, 'task id');
  const notes = checkNote(o.notes ?? '').trim();
  if (!notes) throw invalidInput('Say what the taker needs to know: --notes "what is done, what is left".');
  const to = o.to === undefined ? null : parseTarget(o.to);
  const dir = boardDir(ctx);
  const where = gitContext(ctx.cwd);
  const r = await mutateAs(ctx, (tx, me) => handOver(tx, { history: historyOf(dir, tx.state), recent: (task) => recentOfTask(dir, tx.state, task) }, me, id, { to, notes, where, leaseToken: o.leaseToken }));
  return { revision: r.revision, ...r.value };
}

export const renderHandoff = (r: HandoffResult) => `Handed ${r.task.id} to ${r.handoff.to}; bundle at project-plan/${r.bundle}.`;

export interface HandoffsResult {
  revision: number;
  handoffs: Handoff[];
  truncated: boolean;
}

export async function list(o: { mine?: boolean; all?: boolean; limit?: number }, ctx: Ctx): Promise<HandoffsResult> {
  const { state } = await load(ctx);
  let handoffs = Object.values(state.handoffs).sort((a, b) => cmp(a.at, b.at) || cmp(a.task, b.task));
  if (o.mine) handoffs = handoffsFor(state, authenticate(state, ctx.creds).agent);
  else if (!o.all) handoffs = handoffs.filter((h) => h.state === 'open');
  const { items, truncated } = bounded(handoffs, o.limit);
  return { revision: state.revision, handoffs: items, truncated };
}

export const renderList = (r: HandoffsResult) =>
  r.handoffs.length
    ? r.handoffs.map((h) => `${h.task.padEnd(14)} ${h.state.padEnd(6)} from ${h.from} to ${h.to} at ${h.at}: ${h.notes.replace(/\s+/g, ' ').slice(0, 80)}`).join('\n')
    : 'No handoffs waiting.';

export interface TakeResult extends Take {
  revision: number;
}

export async function takeCommand(rawId: string, ctx: Ctx): Promise<TakeResult> {
  const id = checkId(rawId, 'task id');
  const r = await mutateAs(ctx, (tx, me) => takeHandoff(tx, me, id));
  return { revision: r.revision, ...r.value };
}

export async function next(o: { watch?: number }, ctx: Ctx): Promise<TakeResult> {
  return untilWork(boardDir(ctx), o.watch ?? null, ctx.stop, async () => {
    const r = await mutateAs(ctx, (tx, me) => takeNextHandoff(tx, me));
    return { revision: r.revision, ...r.value };
  });
}

export const renderTake = (r: TakeResult) => `Took ${r.task.id} from ${r.handoff.from} (lease until ${r.lease.expires_at}). Read project-plan/handoffs/${r.task.id}.handoff.md first.`;

export async function ack(rawId: string, ctx: Ctx): Promise<{ revision: number; handoff: Handoff }> {
  const id = checkId(rawId, 'task id');
  const r = await mutateAs(ctx, (tx, me) => ackHandoff(tx, me, id));
  return { revision: r.revision, handoff: r.value };
}

export const renderAck = (r: { handoff: Handoff }) => `Marked the handoff of ${r.handoff.task} read.`;
