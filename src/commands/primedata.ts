import { dirname } from 'node:path';
import { authenticate, type Credentials } from '../rules/sessions.js';
import { invalidInput } from '../rules/errors.js';
import { unread } from '../store/cursors.js';
import { routeOf } from '../clients/launch.js';
import { shellBaton } from '../rules/shellword.js';
import { decideNext } from '../rules/next.js';
import { boardView } from '../rules/rank.js';
import { type Config, type Role, ROLES, type State, type Task } from '../rules/types.js';
import type { PrimeData } from '../render/primer.js';

export const checkRole = (raw: string | undefined): Role | undefined => {
  if (raw !== undefined && !(ROLES as readonly string[]).includes(raw)) throw invalidInput(`--role must be worker, reviewer or orchestrator, not '${raw}'.`);
  return raw as Role | undefined;
};

/** Tasks a session holds a lease on, the soonest to lapse first. */
export function heldBy(state: State, session: string): Task[] {
  const held: Task[] = [];
  for (const id in state.tasks) if (state.tasks[id]!.lease?.session === session) held.push(state.tasks[id]!);
  return held.sort((a, b) => (a.lease!.expires_at < b.lease!.expires_at ? -1 : 1));
}

export function primeData(dir: string, state: State, config: Config, creds: Credentials | null, role: Role | undefined): PrimeData {
  const view = boardView(state);
  const now = Date.now();
  const board = { name: state.board.name, dir, total: view.all.length, ready: view.depReady.length };
  const shell = shellBaton(routeOf(dirname(dir)));
  const none = (ended?: string) => ({ revision: state.revision, board, role: role ?? 'worker', me: null, held: [], inbox: [], next: null, now, ended, shell });
  if (!creds?.session && !creds?.token) return none();
  // An ended session (left, reaped) primes as none, saying so: the agent must join again.
  const known = creds.session ? state.sessions[creds.session.toLowerCase()] : undefined;
  if (known?.ended_at) return none(known.id);
  const { session, agent } = authenticate(state, creds);
  return {
    revision: state.revision,
    board,
    role: session.role,
    me: { agent: agent.id, session: session.id, specialties: agent.specialties },
    held: heldBy(state, session.id),
    inbox: unread(dir, state, agent).notifications,
    next: decideNext(state, config, { session, agentId: agent.id }, now, false),
    now,
    shell,
  };
}
