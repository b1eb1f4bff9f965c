import { checkRole, primeData } from './primedata.js';
import { type Advice } from '../rules/next.js';
import { type TaskJson, toTaskJson } from '../rules/taskmodel.js';
import type { Role } from '../rules/types.js';
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
  const role = checkRole(o.role);
  const { dir, state, config } = await load(ctx);
  const d = primeData(dir, state, config, ctx.creds, role);
  return {
    revision: d.revision,
    agent: d.me?.agent ?? null,
    session: d.me?.session ?? null,
    role: d.role,
    held: d.held.map(toTaskJson),
    unread: d.inbox.length,
    unread_high: d.inbox.filter((n) => n.priority === 'high').length,
    next: d.next,
    primer: renderPrimer(d),
  };
}
