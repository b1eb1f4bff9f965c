import { type Me } from './change.js';
import { dropLease, grantLease, resumeCommand } from './leases.js';
import { PROFILE_LIMITS, reviewRequired } from './sessions.js';
import { BatonError } from './errors.js';
import { type History, leaseConflict } from './leases.js';
import { onFinished } from './lifecycle.js';
import { setsOverlap } from './ownedpaths.js';
import { type Candidate, rankTasks, type Skipped } from './rank.js';
import { IN_FLIGHT } from './vocabulary.js';
import { cmp } from './json.js';
import { isFinished, moveTask, type TaskJson, toTaskJson } from './taskmodel.js';
import type { Tx } from './change.js';
import type { State, Task } from './types.js';

/** A claim as the session that made it sees it (the lease token is shown this once). */
export interface Claim {
  task: TaskJson;
  /** Give it to heartbeat/done/release --lease-token to act only while this claim stands. */
  lease_token: string;
  lease: { expires_at: string };
  warnings: string[];
}

/** Why the ranking put tasks where it did (claim-next --explain, next --explain). */
export interface Explain {
  candidates: { task: string; title: string; score: number; terms: Candidate['terms'] }[];
  skipped: Skipped[];
}

export function explainOf(ranked: Candidate[], skipped: Skipped[]): Explain {
  return {
    candidates: ranked.slice(0, 5).map((c) => ({ task: c.task.id, title: c.task.title, score: c.score, terms: c.terms })),
    skipped: skipped.slice(0, 20),
  };
}

/** Tasks an agent has in progress (the profile's in-flight limit counts these), by id. */
const inFlightOf = (tx: Tx, agentId: string): Task[] => [...tx.find.inProgressBy(agentId)].filter((t) => t.status === 'in_progress' && t.assignee === agentId).sort((a, b) => cmp(a.id, b.id));

/**
 * The first of an agent's tasks in progress held by another of its sessions still on (its client
 * restarted, its token lost): the calling session is not its holder. Null when the caller holds them.
 */
export function heldByEarlier(state: State, mine: Task[], agentId: string, self?: string): { task: Task; session: string } | null {
  for (const t of mine) {
    const s = t.lease ? state.sessions[t.lease.session] : undefined;
    if (s && s.agent === agentId && !s.ended_at && s.id !== self) return { task: t, session: s.id };
  }
  return null;
}

/** Refuses a claim (or handoff take) past the profile's in-flight limit for this agent. */
export function checkInFlightLimit(tx: Tx, agentId: string, taskId: string, self?: string): void {
  const limit = PROFILE_LIMITS[tx.config.profile].inFlight;
  const mine = inFlightOf(tx, agentId);
  if (mine.length >= limit) {
    const earlier = heldByEarlier(tx.state, mine, agentId, self);
    const name = tx.state.agents[agentId]?.name ?? agentId;
    const how = earlier ? ` ${earlier.task.id} is held by your earlier session ${earlier.session}: take its work over with ${resumeCommand(name)}.` : ' Finish or release one first.';
    throw new BatonError('LIMIT_REACHED', `You already have ${mine.length} task(s) in progress (${mine.map((t) => t.id).join(', ')}); the ${tx.config.profile} profile allows ${limit}.${how}`, {
      hint: earlier ? resumeCommand(name) : `baton done ${mine[0]!.id}`,
      details: { task: taskId, in_flight: mine.map((t) => t.id), limit },
    });
  }
}

function pathHolders(tx: Tx, me: Me, task: Task): { other: Task; hit: [string, string] }[] {
  const out: { other: Task; hit: [string, string] }[] = [];
  if (!task.owned_paths.length) return out;
  for (const other of tx.find.holdingPaths()) {
    if (other.id === task.id || !IN_FLIGHT.has(other.status) || other.assignee === me.agentId) continue;
    const hit = setsOverlap(task.owned_paths, other.owned_paths);
    if (hit) out.push({ other, hit });
  }
  return out;
}

/**
 * Gives the task to the calling session with a fresh lease. Shared by claim, claim-next and
 * spawn; the caller has already taken back expired leases in this same transaction.
 */
export function claimTask(tx: Tx, me: Me, task: Task): Claim {
  if (task.status === 'in_progress' || task.status === 'in_review') {
    const holder = task.lease ? tx.state.sessions[task.lease.session] : undefined;
    throw new BatonError('LEASE_CONFLICT', `Task ${task.id} is already held by ${holder?.agent ?? task.assignee ?? 'someone'}${holder?.id === me.session.id ? ' (you)' : ''}${task.lease ? ` until ${task.lease.expires_at}` : ''}.`, {
      hint: 'baton next',
      details: { task: task.id, holder: holder?.agent ?? task.assignee },
    });
  }
  const resuming = task.status === 'changes_requested';
  if (resuming && task.assignee && task.assignee !== me.agentId) {
    throw new BatonError('NOT_YOURS', `Task ${task.id} was sent back to ${task.assignee}, its author; it is theirs to address.`, { hint: 'baton next', details: { task: task.id, from: task.status, to: 'in_progress' } });
  }
  if (!resuming) {
    if (task.status !== 'todo') {
      throw new BatonError('INVALID_TRANSITION', `Task ${task.id} is ${task.status}; only a todo task can be claimed.`, { hint: 'baton next', details: { task: task.id, from: task.status, to: 'in_progress' } });
    }
    if (task.kind !== 'task') throw new BatonError('INVALID_TRANSITION', `${task.id} is a ${task.kind}; only plain tasks are claimed.`, { hint: 'baton next', details: { task: task.id, from: task.status, to: 'in_progress' } });
    for (const d of task.depends_on) {
      const status = tx.find.status(d);
      if (status && !isFinished(status)) {
        throw new BatonError('INVALID_TRANSITION', `Task ${task.id} waits for ${d}, which is ${status}.`, { hint: 'baton next', details: { task: task.id, from: task.status, to: 'in_progress', waits_for: d } });
      }
    }
  }
  checkInFlightLimit(tx, me.agentId, task.id, me.session.id);
  const limits = PROFILE_LIMITS[tx.config.profile];
  const warnings: string[] = [];
  for (const { other, hit } of pathHolders(tx, me, task)) {
    const msg = `paths ${hit[0]} of ${task.id} overlap ${hit[1]} of ${other.id}, held by ${other.assignee ?? other.status}`;
    if (limits.pathsRefuse) {
      throw new BatonError('PATH_CONFLICT', `Can't claim ${task.id}: ${msg}.`, { hint: `baton paths check ${hit[1]}`, details: { task: task.id, conflicts_with: other.id, paths: hit } });
    }
    warnings.push(msg);
  }
  task.assignee = me.agentId;
  const { token, expires_at } = grantLease(tx, task, me.session.id);
  moveTask(tx, task, 'in_progress', { type: resuming ? 'task.resumed' : 'task.claimed', data: { lease_expires_at: expires_at, warnings } });
  return { task: toTaskJson(task), lease_token: token, lease: { expires_at }, warnings };
}

/** Claims the best-ranked ready task for the calling session (claim-next), or NO_WORK saying why none. */
export function claimBest(tx: Tx, me: Me, specialty: string | null, explain: boolean): Claim & { explain: Explain | null } {
  const agent = tx.state.agents[me.agentId]!;
  const limits = PROFILE_LIMITS[tx.config.profile];
  const { ranked, skipped } = rankTasks(tx.state, tx.config, { agent, now: Date.parse(tx.now), specialty, pathsRefuse: limits.pathsRefuse });
  const best = ranked[0];
  if (!best) {
    const unfinished = Object.values(tx.state.tasks).some((t) => !isFinished(t.status));
    const reason = unfinished ? `Nothing ready for ${agent.id}${specialty ? ` in ${specialty}` : ''}: ${skipped.length} todo task(s) wait (see details.skipped).` : 'The board is finished: nothing left to claim.';
    throw new BatonError('NO_WORK', reason, { hint: 'baton next --watch 60', details: { skipped: skipped.slice(0, 20) } });
  }
  const claimed = claimTask(tx, me, best.task);
  return { ...claimed, explain: explain ? explainOf(ranked, skipped) : null };
}

/**
 * Finishes the holder's work on a task (done): to review when the task or the profile asks
 * for one, else done, which may unblock tasks and complete goals.
 */
export function finishClaim(tx: Tx, history: History, me: Me, task: Task, notes: string | null, leaseToken: string | undefined): void {
  if (task.status === 'in_review') throw new BatonError('INVALID_TRANSITION', `Task ${task.id} is in review; the reviewer finishes it (baton review approve ${task.id}).`, { hint: `baton show ${task.id}`, details: { task: task.id, from: task.status, to: 'done' } });
  leaseConflict(history, tx.state, task, me, leaseToken, Date.parse(tx.now));
  if (notes) task.notes.push({ at: tx.now, author: me.agentId, text: notes });
  task.lease = null;
  if (reviewRequired(task, tx.config)) {
    const targets = task.specialty ? [`reviewers:${task.specialty}`] : ['reviewers'];
    moveTask(tx, task, 'review', { type: 'task.submitted', data: { notes }, notify: { targets, kind: 'review-ready', priority: 'normal' } });
  } else {
    moveTask(tx, task, 'done', { type: 'task.done', data: { notes } });
    onFinished(tx, task);
  }
}

/** Lets go of the holder's task without finishing it (release): back to the queue it came from. */
export function releaseClaim(tx: Tx, history: History, me: Me, task: Task, reason: string | null, leaseToken: string | undefined): void {
  leaseConflict(history, tx.state, task, me, leaseToken, Date.parse(tx.now));
  dropLease(tx, task, 'task.released', { reason });
}
