import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './store.js';
import type { State } from './types.js';

/**
 * hook-sessions.json: which baton session each agent client's session is (`claude:<id>` →
 * session and token), so every hook of one client session acts as one baton session across
 * resumes and compactions. It lives in the board, not in a file the agent could lose, but like
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
  /** The hook joined this session (it leaves it at session end); false: it came from the environment. */
  joined: boolean;
}

export type Bindings = Record<string, Binding>;

export const bindingKey = (client: string, clientSession: string): string => `${client}:${clientSession}`;

export function readBindings(dir: string): Bindings {
  try {
    const raw = JSON.parse(readFileSync(join(dir, BINDINGS_FILE), 'utf8')) as unknown;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
    const out: Bindings = {};
    for (const [k, v] of Object.entries(raw as Record<string, Partial<Binding>>)) {
      if (v && typeof v.session === 'string' && typeof v.token === 'string' && typeof v.agent === 'string') out[k] = { session: v.session, token: v.token, agent: v.agent, bound_at: String(v.bound_at ?? ''), joined: v.joined === true };
    }
    return out;
  } catch {
    return {};
  }
}

/** Bindings whose session the board still has and has not ended. */
export function liveBindings(bindings: Bindings, state: State): Bindings {
  return Object.fromEntries(Object.entries(bindings).filter(([, b]) => {
    const s = state.sessions[b.session];
    return s !== undefined && s.ended_at === null;
  }));
}

/** Writes the bindings (the caller holds the board lock), without those of ended sessions. */
export function writeBindings(dir: string, bindings: Bindings, state: State): void {
  const kept = liveBindings(bindings, state);
  const sorted = Object.fromEntries(Object.keys(kept).sort().map((k) => [k, kept[k]!]));
  // Created readable by its owner only: it holds tokens.
  writeFileAtomic(join(dir, BINDINGS_FILE), `${JSON.stringify(sorted, null, 2)}\n`, true, undefined, 0o600);
}
