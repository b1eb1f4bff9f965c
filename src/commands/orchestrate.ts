import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type AgentJson, endSession, findOrMakeAgent, hashToken, mintSessionId, newToken, type SessionJson, sessionState, toAgentJson, toSessionJson } from '../core/agents.js';
import { BatonError, invalidInput } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import { getTask } from '../core/tasks.js';
import type { Role, Session } from '../core/types.js';
import { type Ctx, load, mutate } from './context.js';

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
export async function start(o: { relaunch?: boolean }, ctx: Ctx): Promise<OrchestratorResult> {
  const token = newToken();
  const r = await mutate(ctx, (tx) => {
    const nowMs = Date.parse(tx.now);
    const current = Object.values(tx.state.sessions).find((s) => s.canonical === true && !s.ended_at);
    let ended: string | null = null;
    if (current) {
      const live = sessionState(current, tx.config, nowMs) === 'live';
      if (live && !o.relaunch) {
        const agent = tx.state.agents[current.agent]!;
        return { agent: toAgentJson(agent), session: toSessionJson(current, tx.config, nowMs), token: null, reused: true, ended };
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

export function renderStart(r: OrchestratorResult): string {
  if (r.reused) return `The canonical orchestrator session ${r.session.id} (${r.agent.id}) is live; reusing it. Lost its token? baton orchestrator start --relaunch`;
  return [`Orchestrator ${r.agent.id}, session ${r.session.id}${r.ended ? ` (replaced ${r.ended})` : ''}.`, `export BATON_SESSION=${r.session.id} BATON_TOKEN=${r.token}`, 'Next: baton prompt orchestrator'].join('\n');
}

// ---------------------------------------------------------------- prompts

const ROLES = ['worker', 'reviewer', 'orchestrator'] as const;

export interface PromptResult {
  revision: number;
  role: string;
  source: string;
  prompt: string;
}

/** The role's prompt: the board's copy in project-plan/templates/prompts/ wins over the package's. */
export async function prompt(role: string, o: { task?: string }, ctx: Ctx): Promise<PromptResult> {
  const r = role.toLowerCase();
  if (!(ROLES as readonly string[]).includes(r)) throw invalidInput(`Unknown role '${role}': worker, reviewer or orchestrator.`);
  const { dir, state, config } = await load(ctx);
  const override = join(dir, 'templates', 'prompts', `${r}.md`);
  const source = existsSync(override) ? override : join(ctx.packageRoot, 'templates', 'prompts', `${r}.md`);
  const template = readFileSync(source, 'utf8');
  let taskSection = '';
  if (o.task !== undefined) {
    const t = getTask(state, checkId(o.task, 'task id'));
    taskSection = [
      `## Your task: ${t.id}`,
      '',
      t.title,
      '',
      t.description ?? '',
      t.owned_paths.length ? `Owned paths: ${t.owned_paths.join(', ')}` : '',
      t.depends_on.length ? `Builds on: ${t.depends_on.join(', ')}` : '',
      `Details and history: baton show ${t.id}`,
    ]
      .filter((l, i, a) => l !== '' || a[i - 1] !== '')
      .join('\n');
  }
  const canonical = Object.values(state.sessions).find((s) => s.canonical === true && !s.ended_at);
  const fields: Record<string, string> = {
    project: config.name || state.board.name,
    board: dir,
    role: r,
    lease: String(config.lease_ttl_seconds),
    orchestrator: `\`baton send --to orchestrator "…"\`${canonical ? ` reaches ${canonical.agent} (session ${canonical.id})` : ''}; its answers arrive in \`baton inbox\`.`,
    task: taskSection,
  };
  const text = `${template.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => fields[k] ?? '').trimEnd()}\n`;
  return { revision: state.revision, role: r, source, prompt: text };
}

// ---------------------------------------------------------------- AGENTS.md / CLAUDE.md

const START = '<!-- baton:start -->';
const END = '<!-- baton:end -->';

export function agentsSection(boardRel: string): string {
  return [
    START,
    '## Coordination: baton',
    '',
    `This repository coordinates its agents with baton (the board is \`${boardRel}/\`; never edit it by hand). Start with:`,
    '',
    '```sh',
    'eval "$(baton join --name YOUR-NAME --role worker --export)"',
    'baton next            # the one best action for you, with its exact command',
    'baton prompt worker   # the full primer',
    '```',
    END,
  ].join('\n');
}

/** Adds (or refreshes, between its markers) the baton section of AGENTS.md, and of CLAUDE.md if present. */
export function writeAgentsMd(board: string): string[] {
  const root = dirname(board);
  const section = agentsSection(basename(board));
  const written: string[] = [];
  for (const name of ['AGENTS.md', 'CLAUDE.md']) {
    const path = join(root, name);
    const exists = existsSync(path);
    if (!exists && name === 'CLAUDE.md') continue;
    const before = exists ? readFileSync(path, 'utf8') : '';
    const s = before.indexOf(START);
    const e = before.indexOf(END);
    let after: string;
    if (s >= 0 && e > s) after = `${before.slice(0, s)}${section}${before.slice(e + END.length)}`;
    else if (s >= 0 || e >= 0) throw new BatonError('INVALID_INPUT', `${path} has only one of the baton markers; fix it by hand.`, { details: { file: path } });
    else after = before ? `${before.trimEnd()}\n\n${section}\n` : `# Agents\n\n${section}\n`;
    if (after !== before) {
      writeFileSync(path, after);
      written.push(path);
    }
  }
  return written;
}

