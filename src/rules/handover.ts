import { type Me } from './change.js';
import { grantLease } from './leases.js';
import { checkInFlightLimit } from './claims.js';
import { BatonError } from './errors.js';
import { type History, leaseConflict } from './leases.js';
import { checkTargetKnown, handoffsFor, targetReaches } from './notify.js';
import { checkTransition, getTask, moveTask, type TaskJson, toTaskJson } from './taskmodel.js';
import type { Tx } from './change.js';
import type { Handoff } from './types.js';

export interface HandedOver {
  handoff: Handoff;
  task: TaskJson;
  bundle: string;
}

/**
 * The holder hands its task over (SPEC Handoffs): a handoff record with the notes, the git
 * context and the task's recent events (read from the log only once the handover is allowed);
 * the lease ends and the target is notified.
 */
export function handOver(
  tx: Tx,
  log: { history: History; recent: (task: string) => Handoff['recent'] },
  me: Me,
  id: string,
  o: { to: string | null; notes: string; where: { branch: string | null; diff_stat: string | null }; leaseToken: string | undefined },
): HandedOver {
  const task = getTask(tx.state, id);
  leaseConflict(log.history, tx.state, task, me, o.leaseToken, Date.parse(tx.now));
  checkTransition(task, 'handoff');
  const to = o.to ?? (task.specialty ? `workers:${task.specialty}` : 'workers');
  checkTargetKnown(tx.state, to);
  const recent = log.recent(id);
  const record: Handoff = {
    acked_by: [],
    at: tx.now,
    branch: o.where.branch,
    diff_stat: o.where.diff_stat,
    from: me.agentId,
    from_session: me.session.id,
    notes: o.notes,
    recent,
    state: 'open',
    taken_at: null,
    taken_by: null,
    task: id,
    to,
  };
  tx.state.handoffs[id] = record;
  moveTask(tx, task, 'handoff', { type: 'task.handed_off', data: { to, notes: o.notes }, notify: { targets: [to], kind: 'handoff-ready', priority: 'high' } });
  task.lease = null;
  task.notes.push({ at: tx.now, author: me.agentId, text: `handoff: ${o.notes}` });
  return { handoff: record, task: toTaskJson(task), bundle: `handoffs/${id}.handoff.md` };
}

/** A taken handoff as the taker sees it (the lease token is shown this once). */
export interface Take {
  task: TaskJson;
  lease_token: string;
  lease: { expires_at: string };
  handoff: Handoff;
}

/** Takes an open handoff addressed to the calling agent (or its own): in progress, with a lease. */
export function takeHandoff(tx: Tx, me: Me, id: string): Take {
  const task = getTask(tx.state, id);
  const h = tx.state.handoffs[id];
  if (!h || h.state !== 'open' || task.status !== 'handoff') {
    throw new BatonError('INVALID_TRANSITION', `No open handoff for ${id} (it is ${task.status}).`, { hint: 'baton handoffs', details: { task: id, from: task.status, to: 'in_progress' } });
  }
  const agent = tx.state.agents[me.agentId]!;
  if (!targetReaches(h.to, agent) && h.from !== me.agentId) {
    throw new BatonError('NOT_YOURS', `The handoff of ${id} is addressed to ${h.to}, not to ${agent.id}.`, { hint: 'baton handoffs --mine', details: { task: id, to: h.to } });
  }
  checkInFlightLimit(tx, me.agentId, id, me.session.id);
  task.assignee = me.agentId;
  const { token, expires_at } = grantLease(tx, task, me.session.id);
  h.state = 'taken';
  h.taken_by = me.agentId;
  h.taken_at = tx.now;
  moveTask(tx, task, 'in_progress', { type: 'handoff.taken', data: { from: h.from }, notify: { targets: [`agent:${h.from}`], kind: 'handoff-taken', priority: 'low' } });
  return { task: toTaskJson(task), lease_token: token, lease: { expires_at }, handoff: h };
}

/** Takes the first handoff waiting for the calling agent, or NO_WORK. */
export function takeNextHandoff(tx: Tx, me: Me): Take {
  const first = handoffsFor(tx.state, tx.state.agents[me.agentId]!)[0];
  if (!first) throw new BatonError('NO_WORK', 'No handoff waits for you.', { hint: 'baton handoff next --watch 60' });
  return takeHandoff(tx, me, first.task);
}

/** Marks a handoff read by the calling agent (once; a second ack changes nothing). */
export function ackHandoff(tx: Tx, me: Me, id: string): Handoff {
  const h = tx.state.handoffs[id];
  if (!h) throw new BatonError('NOT_FOUND', `No handoff for ${id}.`, { hint: 'baton handoffs', details: { kind: 'handoff', id } });
  if (!h.acked_by.includes(me.agentId)) {
    h.acked_by = [...h.acked_by, me.agentId].sort();
    tx.emit({ type: 'handoff.acked', task: id, data: { by: me.agentId } });
  }
  return h;
}
