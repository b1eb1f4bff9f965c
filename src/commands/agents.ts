import { historyOf } from '../store/eventlog.js';
import { hostname } from 'node:os';
import { hashToken } from '../rules/digest.js';
import { resumeCommand, sweepExpiredLeases } from '../rules/leases.js';
import { type AgentJson, authenticated, type Credentials, endSession, findOrMakeAgent, mintSessionId, replacedSessions, takeOver, newToken, type SessionJson, sessionState, toAgentJson, toSessionJson } from '../rules/sessions.js';
import { BatonError, invalidInput, notFound } from '../rules/errors.js';
import { checkId } from '../rules/ids.js';
import { shellQuote } from '../rules/shell.js';
import { type Binding, type Bindings, boundAmong, clientAgentName, clientBinding, clientOfEnv, isLive, isProcKey, liveBindings, readBindings, writeBindings } from '../clients/bindings.js';
import { procAlive } from '../clients/procs.js';
import { appendTo, bounded, cmp } from '../rules/json.js';
import { IN_FLIGHT } from '../rules/vocabulary.js';
import { checkSpecialty, splitList } from '../rules/taskmodel.js';
import type { Tx } from '../rules/change.js';
import { type Role, ROLES, type Session, type State } from '../rules/types.js';
import { renewLeases } from '../rules/leases.js';
import { boardDir, type Ctx, load, mutate, mutateAs } from './context.js';

// ---------------------------------------------------------------- join

export interface JoinOptions {
  name?: string;
  role?: string;
  specialty?: string;
  host?: string;
  window?: string;
  parent?: string;
  /** Take over the work of this agent's earlier sessions on this host (they end). */
  resume?: boolean;
  /** The answer is for eval: run again in a shell that already acts as this agent, it gives that session again. */
  export?: boolean;
  /**
   * Joining for an agent client (hooks/link.ts): the keys to bind, in the same transaction, and the
   * name to join under when none is given (`base`, or base-2… while that agent is another running
   * client's). A key already bound to a live session `yieldTo` accepts gives that session instead.
   */
  client?: { keys: string[]; base: string; by: NonNullable<Binding['by']>; yieldTo?: (there: Binding) => boolean };
}

export interface JoinResult {
  revision: number;
  agent: AgentJson;
  session: SessionJson;
  /** Shown once; only its hash is stored. Null when the session is an agent client's (its hooks, MCP server and shell act as it without one). */
  token: string | null;
  /** The session was already there (the client's own, or the one this shell acts as): no new one. */
  reused: boolean;
  /** With --resume: the earlier sessions ended and the tasks that moved from each. */
  taken_over: { session: string; tasks: string[] }[];
}

/**
 * The agent's live sessions other than `keep`, oldest first (join --resume ends them), but none an
 * agent client still running on this host acts as (a second window is not an earlier session).
 */
function earlierSessions(state: State, dir: string, agentId: string, keep: string): Session[] {
  const running = new Set(
    Object.entries(readBindings(dir))
      .filter(([k]) => isProcKey(k) && procAlive(k))
      .map(([, b]) => b.session),
  );
  return Object.values(state.sessions)
    .filter((x) => x.agent === agentId && x.id !== keep && x.ended_at === null && !running.has(x.id))
    .sort((a, b) => cmp(a.started_at, b.started_at) || cmp(a.id, b.id));
}

/** join --resume: `to` takes over the work of its agent's earlier sessions, which end. */
const takeOverEarlier = (tx: Tx, dir: string, to: Session) => earlierSessions(tx.state, dir, to.agent, to.id).map((x) => ({ session: x.id, tasks: takeOver(tx, to, x) }));

/** The session of the agent client this runs under: the one bound to its process or session, or the one its shell names (Claude Code's env file). */
async function clientSessionOf(dir: string, ctx: Ctx, given: Credentials | null): Promise<{ session: string; agent: string } | null> {
  if (given) {
    const b = Object.values(readBindings(dir)).find((x) => x.session === given.session?.toLowerCase() && x.token === given.token);
    return b ? { session: b.session, agent: b.agent } : null;
  }
  if (!clientOfEnv(ctx.env)) return null;
  const b = await clientBinding(dir, ctx.env);
  return b ? { session: b.session, agent: b.agent } : null;
}

export async function join(o: JoinOptions, ctx: Ctx): Promise<JoinResult> {
  if (!o.name?.trim() && !o.client) throw invalidInput('Give the agent a name: --name NAME.', 'baton join --name NAME --role worker');
  const role = (o.role ?? '').toLowerCase() as Role;
  if (!ROLES.includes(role)) throw invalidInput(`--role must be worker, reviewer or orchestrator${o.role ? `, not '${o.role}'` : ''}.`);
  const given_name = o.name?.trim();
  if (given_name) checkId(given_name, 'agent name');
  const specialties = o.specialty === undefined ? undefined : splitList(o.specialty).map((s) => checkSpecialty(s)!);
  const host = (o.host ?? hostname()).trim() || 'localhost';
  if (host.length > 200 || /[\u0000-\u001f]/.test(host)) throw invalidInput('--host must be one short line.');
  const window = o.window ?? ctx.env.BATON_WINDOW ?? ctx.env.TMUX_PANE ?? null;
  if (window !== null && (window.length > 200 || /[\u0000-\u001f]/.test(window))) throw invalidInput('--window must be one short line.');
  const dir = boardDir(ctx);
  // Run by an agent client: the client's own session (its hooks, MCP server and shell act as it;
  // with Claude Code's env file, the session the shell names). --resume takes the earlier work over
  // into it; a plain join would be a second agent with its token in the model's context.
  const given = ctx.creds.session && ctx.creds.token ? ctx.creds : null;
  const linked = o.client ? null : await clientSessionOf(dir, ctx, given);
  if (linked && !o.resume) {
    throw new BatonError('ALREADY_JOINED', `This agent client already acts as session ${linked.session} (agent ${linked.agent}) in its MCP tools, hooks and shell: a join here would be a second agent, its token in your context.`, {
      hint: `baton next (you are on the board already); to take over an earlier session's work: ${resumeCommand(given_name ?? 'NAME')}`,
      details: { session: linked.session, agent: linked.agent },
    });
  }
  const token = newToken();
  const r = await mutate(ctx, (tx) => {
    const nowMs = Date.parse(tx.now);
    // For an agent client: a session another of its processes bound meanwhile, or the name to join under.
    let bindings: Bindings = {};
    let name = given_name ?? '';
    if (o.client) {
      bindings = readBindings(dir);
      // A name given (--name, BATON_AGENT_NAME) is an agent of that name: it takes on no other agent's session.
      const yieldTo = (x: Binding) => (o.client!.yieldTo ?? (() => true))(x) && (!given_name || tx.state.agents[x.agent]?.name === given_name);
      const there = boundAmong(bindings, tx.state, o.client.keys, yieldTo);
      if (there) {
        // Every key of this client names that session now (the hooks' taking it on marks it theirs to end).
        const merged: Binding = { ...there, by: o.client.by === 'hook' ? 'hook' : there.by };
        for (const k of o.client.keys) bindings[k] = merged;
        writeBindings(dir, bindings, tx.state);
        const s = tx.state.sessions[there.session]!;
        return { agent: toAgentJson(tx.state.agents[s.agent]!), session: toSessionJson(s, tx.config, nowMs), token: there.token, reused: true, taken_over: [] };
      }
      name ||= clientAgentName(tx.state, bindings, o.client.base, host, o.client.keys.find(isProcKey) ?? null);
    }
    // The session this shell already acts as, when it is this agent's: eval'd twice, the same lines.
    const mine = given && o.export && !o.resume && !o.client ? authenticated(tx.state, given)?.session : undefined;
    const again = mine && tx.state.agents[mine.agent]?.name === name && mine.host === host && mine.role === role ? mine : null;
    if (again) {
      return { agent: toAgentJson(tx.state.agents[again.agent]!), session: toSessionJson(again, tx.config, nowMs), token: given!.token!, reused: true, taken_over: [] };
    }
    if (linked) {
      const current = tx.state.sessions[linked.session];
      const agent = current ? tx.state.agents[current.agent] : undefined;
      if (current && agent && !current.ended_at) {
        if (agent.name !== name || agent.host !== host) {
          throw invalidInput(`This client session is agent ${agent.name} on ${agent.host}: it can take over only that agent's earlier sessions.`, resumeCommand(agent.name));
        }
        const taken_over = takeOverEarlier(tx, dir, current);
        current.heartbeat_at = tx.now;
        agent.last_seen_at = tx.now;
        return { agent: toAgentJson(agent), session: toSessionJson(current, tx.config, nowMs), token: null, reused: true, taken_over };
      }
    }
    let parent: Session | null = null;
    if (o.parent) {
      parent = tx.state.sessions[o.parent.toLowerCase()] ?? null;
      if (!parent) throw notFound('session', o.parent, 'baton sessions');
    }
    const { agent, created } = findOrMakeAgent(tx.state, name, host, tx.now);
    agent.role = role;
    if (specialties) agent.specialties = specialties;
    agent.last_seen_at = tx.now;
    tx.state.agents[agent.id] = agent;
    const session: Session = {
      agent: agent.id,
      depth: parent ? parent.depth + 1 : 0,
      end_reason: null,
      ended_at: null,
      heartbeat_at: tx.now,
      host,
      id: mintSessionId(tx.state),
      parent: parent?.id ?? null,
      role,
      started_at: tx.now,
      token_hash: hashToken(token),
      window,
    };
    tx.state.sessions[session.id] = session;
    tx.emit({
      type: 'session.joined',
      actor: agent.id,
      session: session.id,
      data: { agent: agent.id, role, specialties: agent.specialties, host, parent: session.parent, new_agent: created },
    });
    const taken_over = o.resume && !created ? takeOverEarlier(tx, dir, session) : [];
    if (o.client) {
      // Bound under the same lock as the join: a second process of the client finds it. (Outside
      // the revision, as the bindings are: a join that fails to commit leaves a binding to no
      // session, which the next write drops.)
      const b: Binding = { session: session.id, token, agent: agent.id, bound_at: tx.now, joined: true, by: o.client.by };
      for (const k of o.client.keys) {
        // Only a client session's hooks take a key bound to another live session (it is theirs now).
        const x = bindings[k];
        if (isLive(tx.state, x) && o.client.by !== 'hook') continue;
        bindings[k] = b;
      }
      writeBindings(dir, bindings, tx.state);
    }
    return { agent: toAgentJson(agent), session: toSessionJson(session, tx.config, nowMs), token, reused: false, taken_over };
  });
  return { revision: r.revision, ...r.value };
}

function renderJoinExport(r: Pick<JoinResult, 'token' | 'agent' | 'session' | 'taken_over'>, dir: string): string {
  if (r.token === null) {
    // A client's session: nothing to export (its hooks, MCP server and shell act as it); eval runs nothing.
    return `# baton: ${r.agent.id} is this client's session ${r.session.id}${tookOver(r)}; nothing to export`;
  }
  return [
    `export BATON_DIR=${shellQuote(dir)}`,
    `export BATON_AGENT=${shellQuote(r.agent.id)}`,
    `export BATON_SESSION=${shellQuote(r.session.id)}`,
    `export BATON_TOKEN=${shellQuote(r.token)}`,
  ].join('\n');
}

const tookOver = (r: Pick<JoinResult, 'taken_over'>): string => {
  const tasks = r.taken_over.flatMap((t) => t.tasks);
  return r.taken_over.length ? `, took over ${r.taken_over.map((t) => t.session).join(', ')}${tasks.length ? ` with ${tasks.join(', ')}` : ''}` : '';
};

/** join's text: its export lines for eval with --export, else a line for people. */
export function renderJoin(r: JoinResult, exported: boolean, ctx: Ctx): string {
  if (exported) return renderJoinExport(r, boardDir(ctx));
  const who = `${r.agent.id} (${r.agent.role}${r.agent.specialties.length ? `: ${r.agent.specialties.join(', ')}` : ''})`;
  if (r.token === null) return `This client acts as ${who}, session ${r.session.id}${tookOver(r)}. Next: baton next`;
  return [
    `${r.reused ? 'Still' : 'Joined'} as ${who}, session ${r.session.id}${tookOver(r)}.`,
    `export BATON_SESSION=${r.session.id} BATON_TOKEN=${r.token}`,
    'The token is shown once. Next: baton next',
  ].join('\n');
}


// ---------------------------------------------------------------- leave

export interface LeaveResult {
  revision: number;
  session: string;
  released: string[];
}

export async function leave(ctx: Ctx): Promise<LeaveResult> {
  const r = await mutateAs(ctx, (tx, me) => ({ session: me.session.id, released: endSession(tx, me.session, 'left') }));
  return { revision: r.revision, ...r.value };
}

export const renderLeave = (r: LeaveResult) =>
  `Session ${r.session} ended.${r.released.length ? ` Released ${r.released.join(', ')} (back to the queue).` : ''}`;

// ---------------------------------------------------------------- heartbeat

export interface HeartbeatResult {
  revision: number;
  session: string;
  leases: { task: string; expires_at: string }[];
  /** Leases this session held that had already lapsed: the work is no longer yours. */
  lost: string[];
}

export async function heartbeat(o: { task?: string; leaseToken?: string }, ctx: Ctx): Promise<HeartbeatResult> {
  const only = o.task === undefined ? null : checkId(o.task, 'task id');
  const dir = boardDir(ctx);
  const r = await mutateAs(ctx, (tx, me) => ({ session: me.session.id, ...renewLeases(tx, historyOf(dir, tx.state), me, only, o.leaseToken) }));
  return { revision: r.revision, ...r.value };
}

export function renderHeartbeat(r: HeartbeatResult): string {
  const out = [`Session ${r.session} is alive.`];
  for (const l of r.leases) out.push(`  ${l.task} lease until ${l.expires_at}`);
  if (r.lost.length) out.push(`Lost (lease lapsed): ${r.lost.join(', ')}: claim again if nobody else has.`);
  return out.join('\n');
}

// ---------------------------------------------------------------- agents / sessions

export interface AgentsResult {
  revision: number;
  agents: (AgentJson & { sessions: number; holds: string[] })[];
  truncated: boolean;
}

export async function agents(o: { limit?: number }, ctx: Ctx): Promise<AgentsResult> {
  const { state, config } = await load(ctx);
  const nowMs = Date.now();
  const holds = new Map<string, string[]>();
  for (const t of Object.values(state.tasks)) {
    const who = t.status === 'in_review' ? t.reviewer : t.assignee;
    if (who && IN_FLIGHT.has(t.status)) appendTo(holds, who, t.id);
  }
  const live = new Map<string, number>();
  const replaced = replacedSessions(state);
  for (const s of Object.values(state.sessions)) if (sessionState(s, config, nowMs) === 'live' && !replaced.has(s.id)) live.set(s.agent, (live.get(s.agent) ?? 0) + 1);
  const { items, truncated } = bounded(Object.values(state.agents).sort((a, b) => cmp(a.id, b.id)), o.limit);
  return { revision: state.revision, agents: items.map((a) => ({ ...toAgentJson(a), sessions: live.get(a.id) ?? 0, holds: (holds.get(a.id) ?? []).sort() })), truncated };
}

export function renderAgents(r: AgentsResult): string {
  if (!r.agents.length) return 'No agents yet: baton join --name NAME --role worker';
  const row = (cells: string[]) => `${cells[0]!.padEnd(16)} ${cells[1]!.padEnd(12)} ${cells[2]!.padEnd(16)} ${cells[3]!.padEnd(5)} ${cells[4]}`.trimEnd();
  return [
    row(['AGENT', 'ROLE', 'SPECIALTIES', 'LIVE', 'HOLDS']),
    ...r.agents.map((a) => row([a.id, a.role, a.specialties.join(',') || '-', String(a.sessions), a.holds.join(', ') || '-'])),
  ].join('\n');
}

export interface SessionsResult {
  revision: number;
  sessions: (SessionJson & { holds: { task: string; status: string; expires_at: string }[] })[];
  truncated: boolean;
  /** Without --all, how many sessions were left out, by state. */
  not_shown: { stale: number; replaced: number; ended: number };
}

/**
 * The live sessions (with --all, every one). A session a newer one of the same agent on the same
 * host replaced (replacedSessions) is `replaced`, and counts with the stale and ended ones left out.
 */
export async function sessions(o: { all?: boolean; limit?: number }, ctx: Ctx): Promise<SessionsResult> {
  const { state, config } = await load(ctx);
  const nowMs = Date.now();
  const holds = new Map<string, SessionsResult['sessions'][number]['holds']>();
  for (const t of Object.values(state.tasks)) {
    if (!t.lease) continue;
    appendTo(holds, t.lease.session, { task: t.id, status: t.status, expires_at: t.lease.expires_at });
  }
  const replaced = replacedSessions(state);
  const every = Object.values(state.sessions)
    .map((s) => {
      const json = toSessionJson(s, config, nowMs);
      return { ...json, state: json.state !== 'ended' && replaced.has(s.id) ? ('replaced' as const) : json.state, holds: holds.get(s.id) ?? [] };
    })
    .sort((a, b) => cmp(a.started_at, b.started_at) || cmp(a.id, b.id));
  const not_shown = { stale: 0, replaced: 0, ended: 0 };
  const all = o.all ? every : every.filter((s) => s.state === 'live' || ((not_shown[s.state] += 1), false));
  const { items, truncated } = bounded(all, o.limit);
  return { revision: state.revision, sessions: items, truncated, not_shown };
}

export function renderSessions(r: SessionsResult): string {
  const rest = Object.entries(r.not_shown).filter(([, n]) => n > 0);
  const more = rest.length ? `\n${rest.reduce((n, [, k]) => n + k, 0)} more not shown: ${rest.map(([k, n]) => `${n} ${k}`).join(', ')} (baton sessions --all)` : '';
  if (!r.sessions.length) return `No live sessions.${more}`;
  const note = r.sessions.some((s) => s.canonical) ? '\n* the canonical orchestrator (baton orchestrator start)' : '';
  const row = (cells: string[]) => `${cells[0]!.padEnd(14)} ${cells[1]!.padEnd(16)} ${cells[2]!.padEnd(13)} ${cells[3]!.padEnd(8)} ${cells[4]}`.trimEnd();
  return [
    row(['SESSION', 'AGENT', 'ROLE', 'STATE', 'WHERE / HOLDS']),
    ...r.sessions.map((s) =>
      row([
        s.id,
        s.agent,
        s.canonical ? `${s.role}*` : s.role,
        s.state,
        `${s.host}${s.window ? `/${s.window}` : ''}${s.parent ? `  parent ${s.parent}` : ''}${s.holds.length ? `  holds ${s.holds.map((h) => `${h.task} until ${h.expires_at}`).join(', ')}` : ''}`,
      ]),
    ),
  ].join('\n') + note + more;
}

// ---------------------------------------------------------------- reap

export interface ReapResult {
  revision: number;
  expired_leases: string[];
  ended_sessions: string[];
  released: string[];
}

export async function reap(ctx: Ctx): Promise<ReapResult> {
  const r = await mutate(ctx, (tx) => {
    const expired = sweepExpiredLeases(tx);
    const nowMs = Date.parse(tx.now);
    const ended: string[] = [];
    const released: string[] = [];
    for (const s of Object.values(tx.state.sessions)) {
      if (!tx.clockTrusted || sessionState(s, tx.config, nowMs) !== 'stale') continue;
      released.push(...endSession(tx, s, 'reaped: no heartbeat'));
      ended.push(s.id);
    }
    return { expired_leases: expired, ended_sessions: ended, released };
  }, {
    // Client sessions bound to a reaped session (hook-sessions.json) are forgotten with it.
    afterCommit: (state) => {
      const bindings = readBindings(boardDir(ctx));
      if (Object.keys(bindings).length !== Object.keys(liveBindings(bindings, state)).length) writeBindings(boardDir(ctx), bindings, state);
    },
  });
  return { revision: r.revision, ...r.value };
}

export function renderReap(r: ReapResult): string {
  if (!r.expired_leases.length && !r.ended_sessions.length) return 'Nothing to reap.';
  return [
    r.expired_leases.length ? `Took back expired leases: ${r.expired_leases.join(', ')}` : '',
    r.ended_sessions.length ? `Ended stale sessions: ${r.ended_sessions.join(', ')}` : '',
    r.released.length ? `Released: ${r.released.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

