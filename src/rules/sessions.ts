import { hashToken, randomBytes, sameSecret, sha256 } from './digest.js';
import { BatonError } from './errors.js';
import { checkId, mintId } from './ids.js';
import { addSeconds } from './clock.js';
import { dropLease } from './leases.js';
import type { Tx } from './change.js';
import type { Agent, Config, Profile, Role, Session, State, Task } from './types.js';

/** The identity a command acts as, from --session/--token or BATON_SESSION/BATON_TOKEN. */
export interface Credentials {
  session: string | undefined;
  token: string | undefined;
}

export const newToken = (): string => randomBytes(24).toString('base64url');

const JOIN_HINT = 'eval "$(baton join --name NAME --role worker --export)"';

/**
 * Checks a session and its token against the state. Every refusal is exit 8 with the
 * `baton join` hint: missing credentials, an unknown session, a wrong token, an ended session.
 */
export function authenticate(state: Pick<State, 'sessions' | 'agents'>, creds: Credentials): { session: Session; agent: Agent } {
  if (!creds.session || !creds.token) {
    throw new BatonError('AUTH_REQUIRED', 'This command acts as an agent: it needs a session and its token (BATON_SESSION and BATON_TOKEN, or --session and --token).', {
      hint: JOIN_HINT,
    });
  }
  const id = creds.session.toLowerCase();
  const session = state.sessions[id];
  const given = Buffer.from(hashToken(creds.token));
  if (!session || !sameSecret(given, Buffer.from(session.token_hash))) {
    throw new BatonError('AUTH_FAILED', `Session '${creds.session}' and that token don't match any session on this board.`, { hint: JOIN_HINT, details: { session: creds.session } });
  }
  if (session.ended_at) {
    throw new BatonError('SESSION_ENDED', `Session ${session.id} ended at ${session.ended_at} (${session.end_reason ?? 'ended'}); join again for a new one.`, {
      hint: JOIN_HINT,
      details: { session: session.id, ended_at: session.ended_at, reason: session.end_reason },
    });
  }
  const agent = state.agents[session.agent];
  if (!agent) throw new BatonError('AUTH_FAILED', `Session ${session.id} belongs to no known agent.`, { hint: JOIN_HINT });
  return { session, agent };
}

/** The live session these credentials are, or null when they are none (missing, wrong or ended): authenticate without the refusal. */
export function authenticated(state: Pick<State, 'sessions' | 'agents'>, creds: Credentials): { session: Session; agent: Agent } | null {
  try {
    return authenticate(state, creds);
  } catch (e) {
    if (e instanceof BatonError) return null;
    throw e;
  }
}

/** The stable agent for a name on a host: the same pair always gives the same id. */
export function findOrMakeAgent(state: State, name: string, host: string, now: string): { agent: Agent; created: boolean } {
  const folded = name.trim();
  for (const a of Object.values(state.agents)) if (a.name === folded && a.host === host) return { agent: a, created: false };
  const base = checkId(folded, 'agent name');
  const hostTag = sha256(host).slice(0, 4);
  let id = state.agents[base] ? `${base.slice(0, 58)}-${hostTag}` : base;
  for (let i = 2; state.agents[id]; i++) id = `${base.slice(0, 55)}-${hostTag}-${i}`;
  const agent: Agent = { created_at: now, host, id, last_seen_at: now, name: folded, role: 'worker', specialties: [] };
  return { agent, created: true };
}

export function mintSessionId(state: State): string {
  return mintId('s', (id) => id in state.sessions, Object.keys(state.sessions).length);
}

export const PROFILE_LIMITS: Record<Profile, { inFlight: number; reviewRequired: boolean; pathsRefuse: boolean }> = {
  safe: { inFlight: 1, reviewRequired: true, pathsRefuse: true },
  balanced: { inFlight: 2, reviewRequired: true, pathsRefuse: true },
  throughput: { inFlight: 4, reviewRequired: false, pathsRefuse: false },
};

export const reviewRequired = (task: Task, config: Config): boolean => task.review_required ?? PROFILE_LIMITS[config.profile].reviewRequired;

/** Stale once its TTL and the clock-skew allowance have passed since its last heartbeat. */
export function sessionState(s: Session, config: Config, nowMs: number): 'live' | 'stale' | 'ended' {
  if (s.ended_at) return 'ended';
  return nowMs - Date.parse(s.heartbeat_at) > (config.session_ttl_seconds + config.clock_skew_seconds) * 1000 ? 'stale' : 'live';
}

/** Ends a session (leave, reap, relaunch) and lets go of every lease it holds. */
export function endSession(tx: Tx, session: Session, reason: string): string[] {
  session.ended_at = tx.now;
  session.end_reason = reason;
  const released: string[] = [];
  for (const t of tx.find.leasedBy(session.id)) {
    if (t.lease?.session === session.id && (t.status === 'in_progress' || t.status === 'in_review')) {
      dropLease(tx, t, 'session.released', { reason });
      released.push(t.id);
    }
  }
  tx.emit({ type: 'session.ended', data: { session: session.id, agent: session.agent, reason, released }, actor: session.agent, session: session.id });
  return released;
}

/**
 * Moves what `from` holds to `to`, a session of the same agent (join --resume: a restarted client,
 * a lost token), then ends `from`. Each task keeps its status and its lease token, with a fresh
 * lease; a `task.taken_over` event says so. Returns the ids moved.
 */
export function takeOver(tx: Tx, to: Session, from: Session): string[] {
  const moved: string[] = [];
  for (const t of tx.find.leasedBy(from.id)) {
    if (t.lease?.session !== from.id || (t.status !== 'in_progress' && t.status !== 'in_review')) continue;
    t.lease = { ...t.lease, session: to.id, heartbeat_at: tx.now, expires_at: addSeconds(tx.now, tx.config.lease_ttl_seconds) };
    tx.touch(t);
    tx.emit({ type: 'task.taken_over', task: t.id, actor: to.agent, session: to.id, data: { from_session: from.id, to_session: to.id, status: t.status } });
    moved.push(t.id);
  }
  endSession(tx, from, `taken over by ${to.id}`);
  return moved;
}

export interface AgentJson {
  id: string;
  name: string;
  role: Role;
  specialties: string[];
  host: string;
  created_at: string;
  last_seen_at: string;
}

export const toAgentJson = (a: Agent): AgentJson => ({
  id: a.id,
  name: a.name,
  role: a.role,
  specialties: a.specialties,
  host: a.host,
  created_at: a.created_at,
  last_seen_at: a.last_seen_at,
});

/**
 * Sessions a newer one of the same agent on the same host replaced (session id → the newer one's):
 * it started after this one was last heard from, and this one holds no lease. A replaced session's
 * token still works, and a heartbeat from it makes it count again; it only stops counting as live
 * in what people read (SESSIONS.md, AGENTS.md, `baton sessions`). A pure function of the state;
 * `leased`: the tasks that may hold a lease, when the caller has them listed.
 */
export function replacedSessions(state: State, leased: Iterable<Task> = Object.values(state.tasks)): Map<string, string> {
  const newest = new Map<string, Session>();
  const key = (s: Session) => `${s.agent}\u0000${s.host}`;
  for (const s of Object.values(state.sessions)) {
    const n = newest.get(key(s));
    if (!n || s.started_at > n.started_at || (s.started_at === n.started_at && s.id > n.id)) newest.set(key(s), s);
  }
  const holding = new Set<string>();
  for (const t of leased) if (t.lease) holding.add(t.lease.session);
  const out = new Map<string, string>();
  for (const s of Object.values(state.sessions)) {
    const n = newest.get(key(s))!;
    if (!s.ended_at && n.id !== s.id && n.started_at > s.heartbeat_at && !holding.has(s.id)) out.set(s.id, n.id);
  }
  return out;
}

export interface SessionJson {
  id: string;
  agent: string;
  role: Role;
  parent: string | null;
  depth: number;
  host: string;
  window: string | null;
  started_at: string;
  heartbeat_at: string;
  ended_at: string | null;
  end_reason: string | null;
  /** `replaced` only in `baton sessions` (replacedSessions). */
  state: 'live' | 'stale' | 'ended' | 'replaced';
  /** True for the canonical orchestrator session. */
  canonical: boolean;
}

export const toSessionJson = (s: Session, config: Config, nowMs: number): SessionJson => ({
  id: s.id,
  agent: s.agent,
  role: s.role,
  parent: s.parent,
  depth: s.depth,
  host: s.host,
  window: s.window,
  started_at: s.started_at,
  heartbeat_at: s.heartbeat_at,
  ended_at: s.ended_at,
  end_reason: s.end_reason,
  state: sessionState(s, config, nowMs),
  canonical: s.canonical === true,
});
