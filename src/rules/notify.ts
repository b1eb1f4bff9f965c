import { BatonError, invalidInput } from './errors.js';
import { checkId } from './ids.js';
import { cmp } from './json.js';
import type { Agent, BatonEvent, Handoff, State } from './types.js';

/**
 * Notification targets (SPEC "Events and notifications"): all, workers, reviewers,
 * orchestrator, workers:<specialty>, reviewers:<specialty>, agent:<id>.
 */
const ROLE_TARGET: Record<string, Agent['role']> = { workers: 'worker', reviewers: 'reviewer', orchestrator: 'orchestrator' };

export function parseTarget(raw: string): string {
  const t = raw.trim().toLowerCase();
  if (t === 'all' || t in ROLE_TARGET) return t;
  const [head, tail, ...rest] = t.split(':');
  if (rest.length === 0 && tail !== undefined) {
    if (head === 'agent') return `agent:${checkId(tail, 'agent id')}`;
    if (head === 'workers' || head === 'reviewers') return `${head}:${checkId(tail, 'specialty')}`;
    // The singular forms people type: worker:backend, reviewer:docs.
    if (head === 'worker' || head === 'reviewer') return `${head}s:${checkId(tail, 'specialty')}`;
  }
  if (t === 'worker' || t === 'reviewer') return `${t}s`;
  throw invalidInput(`Unknown target '${raw}': use all, workers, reviewers, orchestrator, workers:<specialty>, reviewers:<specialty> or agent:<id>.`);
}

/**
 * Does a target reach this agent? A role:specialty target reaches agents of that role that
 * list the specialty, and generalists of that role (who fit every task).
 */
export function targetReaches(target: string, agent: Agent): boolean {
  if (target === 'all') return true;
  if (target.startsWith('agent:')) return target.slice(6) === agent.id;
  const [role, specialty] = target.split(':') as [string, string | undefined];
  if (ROLE_TARGET[role] !== agent.role) return false;
  return specialty === undefined || agent.specialties.length === 0 || agent.specialties.includes(specialty);
}

export const eventReaches = (e: BatonEvent, agent: Agent): boolean => e.notify !== null && e.notify.targets.some((t) => targetReaches(t, agent));

/** Refuses a target that no agent who ever joined would receive: a typo must not vanish. */
export function checkTargetKnown(state: State, target: string): void {
  if (Object.values(state.agents).some((a) => targetReaches(target, a))) return;
  throw new BatonError('NOT_FOUND', `No agent that ever joined this board matches '${target}', so nobody would read it.`, {
    hint: 'baton agents',
    details: { kind: 'target', id: target },
  });
}

/** The cursor name holding how far an agent has acked its inbox. */
export const inboxCursor = (agentId: string) => `inbox.${agentId}`;

/** Open handoffs this agent may take, oldest first (its own excluded). */
export function handoffsFor(state: State, agent: Agent): Handoff[] {
  // Only a handoff whose task still waits in `handoff`: one cancelled, released or blocked since is not offered.
  return Object.values(state.handoffs)
    .filter((h) => h.state === 'open' && h.from !== agent.id && targetReaches(h.to, agent) && state.tasks[h.task]?.status === 'handoff')
    .sort((a, b) => cmp(a.at, b.at) || cmp(a.task, b.task));
}
