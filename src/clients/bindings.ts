import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ancestors, isClientProcess, type Proc, procAlive, procKey, procOnThisHost } from './procs.js';
import { readState, writeFileAtomic } from '../store/store.js';
import type { State } from '../rules/types.js';

/**
 * hook-sessions.json: which baton session each agent client's session is, so its hooks, its MCP
 * server and its shell commands act as one baton session (SPEC §12, §15). Two kinds of key name
 * the same binding:
 * - the client's session, `claude:<id>` (its hooks' session_id; Claude Code also gives it to its
 *   MCP servers and shell commands as CLAUDE_CODE_SESSION_ID, Codex to shell commands as
 *   CODEX_THREAD_ID): it carries a session across resumes and compactions;
 * - the client's process, `proc:<host>:<pid>:<start>` (procs.ts): every MCP server, hook and shell
 *   command of a client runs under it, whatever the client passes them. It lives in the board, not in a file the agent could lose, but like
 * cursors.json outside the revision and local to this clone (git-ignored: it holds tokens, so it
 * is written readable by its owner only). Bindings of ended or missing sessions are dropped
 * whenever it is written (reap ends stale sessions; the next write forgets them).
 */

const BINDINGS_FILE = 'hook-sessions.json';

export interface Binding {
  session: string;
  token: string;
  agent: string;
  bound_at: string;
  /** Joined for this client (it leaves when the client session ends); false: it came from the environment (a spawned child's). */
  joined: boolean;
  /** What bound it: the client's hooks (which then end it at session end), its MCP server, a shell command, or the environment. */
  by?: 'hook' | 'mcp' | 'shell' | 'env';
}

export type Bindings = Record<string, Binding>;

export const bindingKey = (client: string, clientSession: string): string => `${client}:${clientSession}`;

export const isProcKey = (key: string): boolean => key.startsWith('proc:');

/** The agent clients baton knows by their hooks, and how their children can tell them. */
export type ClientName = 'claude' | 'codex' | 'gemini';

/**
 * The variables by which a process tells it runs under an agent client (and which session of it):
 * a child baton spawns is its own agent, not its parent's client, so it starts without them.
 */
export const CLIENT_VARIABLES = ['CLAUDECODE', 'CLAUDE_CODE_SESSION_ID', 'CLAUDE_ENV_FILE', 'CODEX_THREAD_ID', 'CODEX_SESSION_ID', 'GEMINI_CLI', 'GEMINI_SESSION_ID'] as const;

/** The client a process runs under, by the variables each client sets for everything it starts. */
export function clientOfEnv(env: Record<string, string | undefined>): ClientName | null {
  if (env.CLAUDECODE === '1' || env.CLAUDE_CODE_SESSION_ID) return 'claude';
  if (env.CODEX_THREAD_ID) return 'codex';
  if (env.GEMINI_CLI === '1' || env.GEMINI_SESSION_ID) return 'gemini';
  return null;
}

/** The client's session as its children see it (Claude Code: MCP servers, hooks and shell commands; Codex: shell commands; Gemini CLI: hooks), for `client` only. */
export function envSessionKey(env: Record<string, string | undefined>, client: ClientName): string | null {
  const id = { claude: env.CLAUDE_CODE_SESSION_ID, codex: env.CODEX_THREAD_ID, gemini: env.GEMINI_SESSION_ID }[client];
  return id ? bindingKey(client, id) : null;
}

/** An MCP client's name (its clientInfo) as the client baton knows it, when it is one of them. */
export function clientOfMcp(name: string | undefined): ClientName | null {
  const n = (name ?? '').toLowerCase();
  if (n.startsWith('claude')) return 'claude';
  if (n.startsWith('codex')) return 'codex';
  if (n.startsWith('gemini')) return 'gemini';
  return null;
}

/** Whether a binding's session is on the board and has not ended. */
export const isLive = (state: State, b: Binding | undefined): b is Binding => b !== undefined && state.sessions[b.session] !== undefined && state.sessions[b.session]!.ended_at === null;

/** The first of `keys` bound to a live session that `accept` takes (a client's keys, in the order they are trusted). */
export function boundAmong(bindings: Bindings, state: State, keys: string[], accept: (b: Binding) => boolean = () => true): Binding | null {
  for (const k of keys) {
    const b = bindings[k];
    if (isLive(state, b) && accept(b)) return b;
  }
  return null;
}

/**
 * The live binding a command run under a client acts as: the nearest process above it that is
 * bound (`chain`, nearest first), else the client's session as its variables name it.
 */
export function linkedBinding(bindings: Bindings, state: State, chain: Proc[], env: Record<string, string | undefined>): { key: string; binding: Binding } | null {
  if (!Object.keys(bindings).length) return null;
  // Nearest first, and no further than the first agent client above: a client run inside another
  // client's shell is not that client's session.
  for (const p of chain) {
    const key = procKey(p);
    if (isLive(state, bindings[key])) return { key, binding: bindings[key]! };
    if (isClientProcess(p)) break;
  }
  const client = clientOfEnv(env);
  const key = client ? envSessionKey(env, client) : null;
  return key && isLive(state, bindings[key]) ? { key, binding: bindings[key]! } : null;
}

/** The live binding of the agent client this process runs under, if any (linkedBinding, for this process). */
export async function clientBinding(dir: string, env: Record<string, string | undefined>): Promise<Binding | null> {
  const bindings = readBindings(dir);
  if (!Object.keys(bindings).length) return null;
  const state = await readState(dir).catch(() => null);
  return state ? (linkedBinding(bindings, state, ancestors(), env)?.binding ?? null) : null;
}

/**
 * Binds `keys` to `b` under the board lock, unless one of them is already bound to another live
 * session that `yieldTo` accepts (another process of the same client joined meanwhile): then
 * every key is bound to that one, which is returned, and the caller's session is the spare.
 */
export async function bindKeys(dir: string, lockTimeoutMs: number, keys: string[], b: Binding | null, yieldTo: (there: Binding) => boolean = () => true): Promise<Binding | null> {
  const { withLock } = await import('../store/tx.js');
  return withLock(dir, lockTimeoutMs, async () => {
    const state = await readState(dir);
    const bindings = readBindings(dir);
    const there = b ? boundAmong(bindings, state, keys, (o) => o.session !== b.session && yieldTo(o)) : null;
    const winner = there ?? b;
    for (const k of keys) {
      if (winner) bindings[k] = winner;
      else delete bindings[k];
    }
    writeBindings(dir, bindings, state);
    return winner;
  });
}

/**
 * The name an agent client joins under when none is given: the client's own (`claude`), or
 * `claude-2`, `claude-3`… while that agent has a session bound to another client process still
 * running on this host (two windows of one client are two workers, each with its own limit and
 * inbox). A name whose sessions' clients are gone is free again: its earlier work is taken over
 * explicitly (join --resume).
 */
export function clientAgentName(state: State, bindings: Bindings, base: string, host: string, self: string | null): string {
  const busy = new Set<string>();
  for (const [k, b] of Object.entries(bindings)) {
    if (!isProcKey(k) || k === self || !isLive(state, b) || !procAlive(k)) continue;
    busy.add(b.agent);
  }
  for (let i = 1; ; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    const agent = Object.values(state.agents).find((a) => a.name === name && a.host === host);
    if (!agent || !busy.has(agent.id)) return name;
  }
}

export function readBindings(dir: string): Bindings {
  try {
    const raw = JSON.parse(readFileSync(join(dir, BINDINGS_FILE), 'utf8')) as unknown;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
    const out: Bindings = {};
    for (const [k, v] of Object.entries(raw as Record<string, Partial<Binding>>)) {
      if (v && typeof v.session === 'string' && typeof v.token === 'string' && typeof v.agent === 'string') out[k] = { session: v.session, token: v.token, agent: v.agent, bound_at: String(v.bound_at ?? ''), joined: v.joined === true, ...(v.by ? { by: v.by } : {}) };
    }
    return out;
  } catch {
    return {};
  }
}

/** Bindings whose session the board still has and has not ended. */
export function liveBindings(bindings: Bindings, state: State): Bindings {
  return Object.fromEntries(Object.entries(bindings).filter(([, b]) => isLive(state, b)));
}

/** Writes the bindings (the caller holds the board lock), without those of ended sessions or of client processes gone from this host. */
export function writeBindings(dir: string, bindings: Bindings, state: State): void {
  const kept = Object.fromEntries(Object.entries(liveBindings(bindings, state)).filter(([k]) => !isProcKey(k) || procAlive(k) || !procOnThisHost(k)));
  const sorted = Object.fromEntries(Object.keys(kept).sort().map((k) => [k, kept[k]!]));
  // Created readable by its owner only: it holds tokens.
  writeFileAtomic(join(dir, BINDINGS_FILE), `${JSON.stringify(sorted, null, 2)}\n`, true, undefined, 0o600);
}
