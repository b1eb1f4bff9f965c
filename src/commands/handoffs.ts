import { gitOrNull as git } from '../core/git.js';
import { authenticate, grantLease } from '../core/agents.js';
import { BatonError, invalidInput } from '../core/errors.js';
import { readLiveTail } from '../core/events.js';
import { checkId } from '../core/ids.js';
import { cmp } from '../core/json.js';
import { checkTargetKnown, handoffsFor, parseTarget, targetReaches } from '../core/notify.js';
import { checkNote, checkTransition, getTask, moveTask, type TaskJson, toTaskJson } from '../core/tasks.js';
import type { Tx } from '../core/tx.js';
import type { Handoff } from '../core/types.js';
import { parseWatch, untilWork } from '../core/watch.js';
import { type Me, mutateAs } from './agents.js';
import { boardDir, type Ctx, load } from './context.js';
import { leaseConflict } from './leases.js';
import { checkInFlightLimit } from './work.js';

export type HandoffJson = Omit<Handoff, never>;

/** The branch and `git diff --stat` (against where the branch left the default branch, or HEAD). */
function gitContext(cwd: string): { branch: string | null; diff_stat: string | null } {
  const branch = git(cwd, ['rev-parse', '--abbrev-ref', 'HEAD']);
  if (branch === null) return { branch: null, diff_stat: null };
  let base = 'HEAD';
  for (const ref of ['origin/HEAD', 'origin/main', 'main', 'master']) {
    const mb = git(cwd, ['merge-base', 'HEAD', ref]);
    if (mb) {
      base = mb;
      break;
    }
  }
  const stat = git(cwd, ['diff', '--stat', base]);
  return { branch, diff_stat: stat ? stat.split('\n').slice(-40).join('\n') : '' };
}

export interface HandoffResult {
  revision: number;
  handoff: Handoff;
  task: TaskJson;
  bundle: string;
}

export async function handoff(rawId: string, o: { to?: string; notes?: string; leaseToken?: string }, ctx: Ctx): Promise<HandoffResult> {
  const id = checkId(rawId, 'task id');
  const notes = checkNote(o.notes ?? '').trim();
  if (!notes) throw invalidInput('Say what the taker needs to know: --notes "what is done, what is left".');
  const explicit = o.to === undefined ? null : parseTarget(o.to);
  const dir = boardDir(ctx);
  const where = gitContext(ctx.cwd);
  const r = await mutateAs(ctx, (tx, me) => {
    const task = getTask(tx.state, id);
    leaseConflict(dir, tx.state, task, me, o.leaseToken, Date.parse(tx.now));
    checkTransition(task, 'handoff');
    const to = explicit ?? (task.specialty ? `workers:${task.specialty}` : 'workers');
    checkTargetKnown(tx.state, to);
    const recent = readLiveTail(dir, tx.state.seq, 0, (l) => l.includes(`"task":"${id}"`), 10).map((e) => ({ seq: e.seq, ts: e.ts, type: e.type, actor: e.actor }));
    const record: Handoff = {
      acked_by: [],
      at: tx.now,
      branch: where.branch,
      diff_stat: where.diff_stat,
      from: me.agentId,
      from_session: me.session.id,
      notes,
      recent,
      state: 'open',
      taken_at: null,
      taken_by: null,
      task: id,
      to,
    };
    tx.state.handoffs[id] = record;
    moveTask(tx, task, 'handoff', { type: 'task.handed_off', data: { to, notes }, notify: { targets: [to], kind: 'handoff-ready', priority: 'high' } });
    task.lease = null;
    task.notes.push({ at: tx.now, author: me.agentId, text: `handoff: ${notes}` });
    return { handoff: record, task: toTaskJson(task), bundle: `handoffs/${id}.handoff.md` };
  });
  return { revision: r.revision, ...r.value };
}

export const renderHandoff = (r: HandoffResult) => `Handed ${r.task.id} to ${r.handoff.to}; bundle at project-plan/${r.bundle}.`;

export interface HandoffsResult {
  revision: number;
  handoffs: Handoff[];
}

export async function list(o: { mine?: boolean; all?: boolean }, ctx: Ctx): Promise<HandoffsResult> {
  const { state } = await load(ctx);
  let handoffs = Object.values(state.handoffs).sort((a, b) => cmp(a.at, b.at) || cmp(a.task, b.task));
  if (o.mine) handoffs = handoffsFor(state, authenticate(state, ctx.creds).agent);
  else if (!o.all) handoffs = handoffs.filter((h) => h.state === 'open');
  return { revision: state.revision, handoffs };
}

export const renderList = (r: HandoffsResult) =>
  r.handoffs.length
    ? r.handoffs.map((h) => `${h.task.padEnd(14)} ${h.state.padEnd(6)} from ${h.from} to ${h.to} at ${h.at}: ${h.notes.replace(/\s+/g, ' ').slice(0, 80)}`).join('\n')
    : 'No handoffs waiting.';

export interface TakeResult {
  revision: number;
  task: TaskJson;
  lease_token: string;
  lease: { expires_at: string };
  handoff: Handoff;
}

function take(tx: Tx, me: Me, id: string): Omit<TakeResult, 'revision'> {
  const task = getTask(tx.state, id);
  const h = tx.state.handoffs[id];
  if (!h || h.state !== 'open' || task.status !== 'handoff') {
    throw new BatonError('INVALID_TRANSITION', `No open handoff for ${id} (it is ${task.status}).`, { hint: 'baton handoffs', details: { task: id, from: task.status, to: 'in_progress' } });
  }
  const agent = tx.state.agents[me.agentId]!;
  if (!targetReaches(h.to, agent) && h.from !== me.agentId) {
    throw new BatonError('INVALID_TRANSITION', `The handoff of ${id} is addressed to ${h.to}, not to ${agent.id}.`, { hint: 'baton handoffs --mine', details: { task: id, to: h.to } });
  }
  checkInFlightLimit(tx, me.agentId, id);
  task.assignee = me.agentId;
  const { token, expires_at } = grantLease(tx, task, me.session.id);
  h.state = 'taken';
  h.taken_by = me.agentId;
  h.taken_at = tx.now;
  moveTask(tx, task, 'in_progress', { type: 'handoff.taken', data: { from: h.from }, notify: { targets: [`agent:${h.from}`], kind: 'handoff-taken', priority: 'low' } });
  return { task: toTaskJson(task), lease_token: token, lease: { expires_at }, handoff: h };
}

export async function takeCommand(rawId: string, ctx: Ctx): Promise<TakeResult> {
  const id = checkId(rawId, 'task id');
  const r = await mutateAs(ctx, (tx, me) => take(tx, me, id));
  return { revision: r.revision, ...r.value };
}

export async function next(o: { watch?: string }, ctx: Ctx): Promise<TakeResult> {
  return untilWork(boardDir(ctx), parseWatch(o.watch), async () => {
    const r = await mutateAs(ctx, (tx, me) => {
      const first = handoffsFor(tx.state, tx.state.agents[me.agentId]!)[0];
      if (!first) throw new BatonError('NO_WORK', 'No handoff waits for you.', { hint: 'baton handoff next --watch 60' });
      return take(tx, me, first.task);
    });
    return { revision: r.revision, ...r.value };
  });
}

export const renderTake = (r: TakeResult) => `Took ${r.task.id} from ${r.handoff.from} (lease until ${r.lease.expires_at}). Read project-plan/handoffs/${r.task.id}.handoff.md first.`;

export async function ack(rawId: string, ctx: Ctx): Promise<{ revision: number; handoff: Handoff }> {
  const id = checkId(rawId, 'task id');
  const r = await mutateAs(ctx, (tx, me) => {
    const h = tx.state.handoffs[id];
    if (!h) throw new BatonError('NOT_FOUND', `No handoff for ${id}.`, { hint: 'baton handoffs', details: { kind: 'handoff', id } });
    if (!h.acked_by.includes(me.agentId)) {
      h.acked_by = [...h.acked_by, me.agentId].sort();
      tx.emit({ type: 'handoff.acked', task: id, data: { by: me.agentId } });
    }
    return h;
  });
  return { revision: r.revision, handoff: r.value };
}
