import { addSeconds, hashToken, leaseLive, type Me, resumeCommand } from './agents.js';

/**
 * How often a long-lived or hooked session renews its leases on its own calls (the MCP server,
 * the after-each-tool hook): a third of the lease time, and at least every 10 s. Renewing on
 * every call would make every call a write.
 */
export const renewEvery = (ttlSeconds: number): number => Math.min(10_000, (ttlSeconds * 1000) / 3);
import { BatonError } from './errors.js';
import { getTask } from './tasks.js';
import type { Tx } from './change.js';
import type { BatonEvent, State, Task } from './types.js';

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
    for (const t of Object.values(tx.state.tasks)) {
      if (t.lease?.session !== me.session.id) continue;
      if (leaseLive(t, nowMs)) renew(t);
      else lost.push(t.id);
    }
  }
  tx.emit({ type: 'session.heartbeat', data: { leases: leases.map((l) => l.task), lost } });
  return { leases, lost };
}
