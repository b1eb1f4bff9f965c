import { hostname } from 'node:os';
import { hashToken } from '../rules/digest.js';
import { type AgentJson, authenticated, endSession, findOrMakeAgent, mintSessionId, newToken, type SessionJson, sessionState, toAgentJson, toSessionJson } from '../rules/sessions.js';
import { BatonError } from '../rules/errors.js';
import { checkPromptRole, renderRolePrompt } from '../clients/prompts.js';
import type { Role, Session } from '../rules/types.js';
import { type Ctx, load, mutate } from './context.js';
import { renderJoin } from './agents.js';

export interface OrchestratorResult {
  revision: number;
  agent: AgentJson;
  session: SessionJson;
  /** The new session's token; null when an existing canonical session was reused. */
  token: string | null;
  reused: boolean;
  ended: string | null;
}

/** The canonical orchestrator agent's name: `<project>-orchestrator`. */
export function orchestratorName(project: string): string {
  const slug = project
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return `${slug || 'project'}-orchestrator`;
}

/**
 * Makes or reuses the one canonical orchestrator session. Reused while it is live (running
 * this twice never makes two); a stale one, or any with --relaunch, is ended (its leases
 * released) and replaced. Sessions joined by hand with --role orchestrator never become it.
 */
export async function start(o: { relaunch?: boolean; export?: boolean }, ctx: Ctx): Promise<OrchestratorResult> {
  const token = newToken();
  const r = await mutate(ctx, (tx) => {
    const nowMs = Date.parse(tx.now);
    const current = Object.values(tx.state.sessions).find((s) => s.canonical === true && !s.ended_at);
    let ended: string | null = null;
    if (current) {
      const live = sessionState(current, tx.config, nowMs) === 'live';
      if (live && !o.relaunch) {
        const agent = tx.state.agents[current.agent]!;
        // The shell that started it (its token in the environment) gets the same lines again;
        // any other gets a refusal eval fails on: the token is shown once.
        const mine = authenticated(tx.state, ctx.creds)?.session.id === current.id ? ctx.creds.token! : null;
        if (o.export && !mine) {
          throw new BatonError('ALREADY_JOINED', `The orchestrator session ${current.id} is live, and its token was shown only when it started: this shell can't act as it.`, {
            hint: 'eval "$(baton orchestrator start --relaunch --export)" (ends it; what it holds goes back to the queue)',
            details: { session: current.id },
          });
        }
        return { agent: toAgentJson(agent), session: toSessionJson(current, tx.config, nowMs), token: mine, reused: true, ended };
      }
      endSession(tx, current, o.relaunch ? 'relaunched' : 'replaced: no heartbeat');
      current.canonical = false;
      ended = current.id;
    }
    const name = orchestratorName(tx.config.name || tx.state.board.name);
    const { agent } = findOrMakeAgent(tx.state, name, hostname(), tx.now);
    agent.role = 'orchestrator' as Role;
    agent.last_seen_at = tx.now;
    tx.state.agents[agent.id] = agent;
    const session: Session = {
      agent: agent.id,
      canonical: true,
      depth: 0,
      end_reason: null,
      ended_at: null,
      heartbeat_at: tx.now,
      host: hostname(),
      id: mintSessionId(tx.state),
      parent: null,
      role: 'orchestrator',
      started_at: tx.now,
      token_hash: hashToken(token),
      window: ctx.env.BATON_WINDOW ?? ctx.env.TMUX_PANE ?? null,
    };
    tx.state.sessions[session.id] = session;
    tx.emit({ type: 'orchestrator.started', actor: agent.id, session: session.id, data: { session: session.id, replaced: ended } });
    return { agent: toAgentJson(agent), session: toSessionJson(session, tx.config, nowMs), token, reused: false, ended };
  });
  return { revision: r.revision, ...r.value };
}

/** orchestrator start's text: with --export, the same export lines join gives (agents.ts). */
export function renderStart(r: OrchestratorResult, exported: boolean, ctx: Ctx): string {
  if (exported) return renderJoin({ ...r, taken_over: [] }, true, ctx);
  if (r.reused) return `The canonical orchestrator session ${r.session.id} (${r.agent.id}) is live; reusing it. Lost its token? baton orchestrator start --relaunch`;
  return [`Orchestrator ${r.agent.id}, session ${r.session.id}${r.ended ? ` (replaced ${r.ended})` : ''}.`, `export BATON_SESSION=${r.session.id} BATON_TOKEN=${r.token}`, 'Next: baton prompt orchestrator'].join('\n');
}

// ---------------------------------------------------------------- prompts

export interface PromptResult {
  revision: number;
  role: string;
  source: string;
  prompt: string;
}

/** The role's prompt: the board's copy in project-plan/templates/prompts/ wins over the package's. */
export async function prompt(role: string, o: { task?: string }, ctx: Ctx): Promise<PromptResult> {
  const r = checkPromptRole(role);
  const board = await load(ctx);
  return { revision: board.state.revision, ...renderRolePrompt(board, ctx.packageRoot, r, o.task) };
}
