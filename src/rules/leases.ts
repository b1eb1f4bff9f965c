import { BatonError } from './errors.js';
import { getTask, moveTask } from './taskmodel.js';
import { hashToken, randomBytes } from './digest.js';
import { addSeconds } from './clock.js';
import type { Me, Tx } from './change.js';
import type { BatonEvent, State, Task } from './types.js';

/**
 * How often a long-lived or hooked session renews its leases on its own calls (the MCP server,
 * the after-each-tool hook): a third of the lease time, and at least every 10 s. Renewing on
 * every call would make every call a write.
 */
export const renewEvery = (ttlSeconds: number): number => Math.min(10_000, (ttlSeconds * 1000) / 3);

/** The command that takes an agent's earlier session's work over (every refusal on that path names it). */
export const resumeCommand = (agentName: string): string => `baton join --name ${agentName} --resume`;

export const leaseLive = (task: Task, nowMs: number): boolean => task.lease !== null && Date.parse(task.lease.expires_at) > nowMs;

/**
 * A lease is taken back only once it ran out by more than the clock-skew allowance (the holder's
 * clock may be behind ours), and never by a transaction whose own clock is off (clock.ts).
 */
const leaseLapsed = (task: Task, tx: Tx): boolean =>
  tx.clockTrusted && task.lease !== null && Date.parse(task.lease.expires_at) + tx.config.clock_skew_seconds * 1000 <= Date.parse(tx.now);

/** Gives a task a fresh lease for a session (claims, reviews, handoff takes); the token is shown once. */
export function grantLease(tx: Tx, task: Task, session: string): { token: string; expires_at: string } {
  const token = randomBytes(18).toString('base64url');
  const expires_at = addSeconds(tx.now, tx.config.lease_ttl_seconds);
  task.lease = { expires_at, heartbeat_at: tx.now, session, token_hash: hashToken(token) };
  return { token, expires_at };
}

/** Where a task goes when its lease ends without a finish: a worker's back to todo, a review back to the queue. */
function releaseTarget(task: Task): Task['status'] {
  return task.status === 'in_review' ? 'review' : 'todo';
}

/**
 * Ends the lease on a task without finishing it (expiry, release, leave, reap), with the
 * event that says so. `why` is the event type; expiry notifies the former holder, and so does a
 * release by someone else (`tell`: the holder's agent).
 */
export function dropLease(tx: Tx, task: Task, why: 'lease.expired' | 'task.released' | 'session.released', data: Record<string, unknown> = {}, tell: string | null = null): void {
  const lease = task.lease;
  const holder = lease ? tx.state.sessions[lease.session] : undefined;
  const formerAgent = task.status === 'in_review' ? task.reviewer : task.assignee;
  const to = releaseTarget(task);
  if (to === 'review') task.reviewer = null;
  else task.assignee = null;
  task.lease = null;
  moveTask(tx, task, to, {
    type: why,
    data: { ...data, status: to, previous_session: lease?.session ?? null, previous_agent: holder?.agent ?? formerAgent, expired_at: lease?.expires_at ?? null },
    notify:
      why === 'lease.expired' && formerAgent
        ? { targets: [`agent:${formerAgent}`], kind: 'lease-expired', priority: 'high' }
        : tell
          ? { targets: [`agent:${tell}`], kind: 'intervention', priority: 'high' }
          : null,
  });
}

/** Takes back every lease past its expiry (inside any claim, and in reap). Returns the ids. */
export function sweepExpiredLeases(tx: Tx): string[] {
  const swept: string[] = [];
  if (!tx.clockTrusted) return swept;
  const lapsedBy = Date.parse(tx.now) - tx.config.clock_skew_seconds * 1000;
  for (const t of tx.find.leased(lapsedBy)) {
    if (leaseLapsed(t, tx) && (t.status === 'in_progress' || t.status === 'in_review')) {
      dropLease(tx, t, 'lease.expired');
      swept.push(t.id);
    }
  }
  return swept;
}

/**
 * The board's event log up to the state a rule looks at, read only when a refusal needs to tell
 * what happened (the caller reads it: the rules touch no file).
 */
export type History = () => readonly BatonEvent[];

/** What became of a lease this session once held on a task, told from the event log. */
function whatHappened(history: History, state: State, task: Task, me: Me): string | null {
  const events = history();
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.task !== task.id) continue;
    if ((e.type === 'lease.expired' || e.type === 'session.released') && e.data.previous_session === me.session.id) {
      const how = e.type === 'lease.expired' ? `your lease expired at ${String(e.data.expired_at)} and was taken back at ${e.ts}` : `it was released at ${e.ts} when your session ended`;
      const now = task.lease ? state.sessions[task.lease.session] : undefined;
      return `${how}; ${now ? `it is now held by ${now.agent} (session ${now.id}) since ${task.lease!.heartbeat_at}` : `it is now ${task.status}`}`;
    }
  }
  return null;
}

/**
 * Refuses (LEASE_CONFLICT) unless the calling session holds a live lease on the task, and,
 * when a lease token is given, unless it is the current lease's token: so a stale holder
 * can't heartbeat, finish or release work that was taken back or re-claimed since.
 */
export function leaseConflict(history: History, state: State, task: Task, me: Me, leaseToken: string | undefined, nowMs: number): void {
  const lease = task.lease;
  const fail = (message: string, details: Record<string, unknown> = {}) =>
    new BatonError('LEASE_CONFLICT', message, { hint: `baton show ${task.id}`, details: { task: task.id, status: task.status, holder: lease ? (state.sessions[lease.session]?.agent ?? null) : null, ...details } });
  if (!lease || lease.session !== me.session.id) {
    const story = whatHappened(history, state, task, me);
    if (story) throw fail(`You no longer hold ${task.id}: ${story}.`);
    const holder = lease ? state.sessions[lease.session] : undefined;
    if (holder && holder.agent === me.agentId && !holder.ended_at) {
      // This agent's earlier session (a restarted client, a lost token): taken over explicitly.
      const name = state.agents[me.agentId]?.name ?? me.agentId;
      throw new BatonError('LEASE_CONFLICT', `Task ${task.id} is held by your earlier session ${holder.id}, not by this one (${me.session.id}); take that session's work over with ${resumeCommand(name)}.`, {
        hint: resumeCommand(name),
        details: { task: task.id, status: task.status, holder: holder.agent, holder_session: holder.id },
      });
    }
    throw fail(holder ? `Task ${task.id} is held by ${holder.agent} (session ${holder.id}), not by you.` : `You don't hold ${task.id} (it is ${task.status}).`);
  }
  if (leaseToken !== undefined && hashToken(leaseToken) !== lease.token_hash) {
    throw fail(`That lease token is not the current one for ${task.id}: it was re-claimed since you got it.`);
  }
  if (Date.parse(lease.expires_at) <= nowMs) {
    throw new BatonError('LEASE_CONFLICT', `Your lease on ${task.id} expired at ${lease.expires_at}; nobody has taken it yet, so claim it again.`, {
      hint: `baton claim ${task.id}`,
      details: { task: task.id, expired_at: lease.expires_at },
    });
  }
}

/**
 * A session's heartbeat: renews the lease on `only` (which it must hold), or every live lease
 * it holds, for another lease TTL; the ones that had already lapsed are reported as lost.
 */
export function renewLeases(tx: Tx, history: History, me: Me, only: string | null, leaseToken: string | undefined): { leases: { task: string; expires_at: string }[]; lost: string[] } {
  const nowMs = Date.parse(tx.now);
  const ttl = tx.config.lease_ttl_seconds;
  const leases: { task: string; expires_at: string }[] = [];
  const lost: string[] = [];
  const renew = (t: Task) => {
    t.lease!.expires_at = addSeconds(tx.now, ttl);
    t.lease!.heartbeat_at = tx.now;
    tx.touch(t);
    leases.push({ task: t.id, expires_at: t.lease!.expires_at });
  };
  if (only) {
    const t = getTask(tx.state, only);
    leaseConflict(history, tx.state, t, me, leaseToken, nowMs);
    renew(t);
  } else {
    for (const t of tx.find.leasedBy(me.session.id)) {
      if (t.lease?.session !== me.session.id) continue;
      if (leaseLive(t, nowMs)) renew(t);
      else lost.push(t.id);
    }
  }
  tx.emit({ type: 'session.heartbeat', data: { leases: leases.map((l) => l.task), lost } });
  return { leases, lost };
}
