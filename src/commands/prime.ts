import { authenticate } from '../core/agents.js';
import { invalidInput } from '../core/errors.js';
import { unread } from '../core/inbox.js';
import { type Advice, decideNext } from '../core/next.js';
import { boardView } from '../core/rank.js';
import { type TaskJson, toTaskJson } from '../core/tasks.js';
import { type Role, ROLES } from '../core/types.js';
import { renderPrimer } from '../render/primer.js';
import { type Ctx, load } from './context.js';

export interface PrimeResult {
  revision: number;
  /** Null without a session (the primer then says how to join). */
  agent: string | null;
  session: string | null;
  role: Role;
  /** Tasks this session holds a lease on. */
  held: TaskJson[];
  unread: number;
  unread_high: number;
  next: Advice | null;
  /** The primer itself: under 2,000 characters, the most important lines first. */
  primer: string;
}

/** Who you are on this board, what you hold, what waits for you, and what to do next. */
export async function prime(o: { role?: string }, ctx: Ctx): Promise<PrimeResult> {
  if (o.role !== undefined && !(ROLES as readonly string[]).includes(o.role)) throw invalidInput(`--role must be worker, reviewer or orchestrator, not '${o.role}'.`);
  const { dir, state, config } = await load(ctx);
  const view = boardView(state);
  const now = Date.now();
  const board = { name: state.board.name, dir, total: view.all.length, ready: view.depReady.length };
  if (!ctx.creds.session && !ctx.creds.token) {
    const role = (o.role ?? 'worker') as Role;
    const primer = renderPrimer({ board, role, me: null, held: [], inbox: [], next: null, now });
    return { revision: state.revision, agent: null, session: null, role, held: [], unread: 0, unread_high: 0, next: null, primer };
  }
  const { session, agent } = authenticate(state, ctx.creds);
  const held = view.leased.filter((t) => t.lease!.session === session.id).sort((a, b) => (a.lease!.expires_at < b.lease!.expires_at ? -1 : 1));
  const inbox = unread(dir, state, agent).notifications;
  const next = decideNext(state, config, { session, agentId: agent.id }, now, false);
  const role = session.role;
  const primer = renderPrimer({ board, role, me: { agent: agent.id, session: session.id, specialties: agent.specialties }, held, inbox, next, now });
  return {
    revision: state.revision,
    agent: agent.id,
    session: session.id,
    role,
    held: held.map(toTaskJson),
    unread: inbox.length,
    unread_high: inbox.filter((n) => n.priority === 'high').length,
    next,
    primer,
  };
}
