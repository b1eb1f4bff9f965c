/** The board's words: statuses, kinds, profiles and roles (schema.ts builds on them, types.ts re-exports them). */
export const STATUSES = [
  'todo',
  'in_progress',
  'review',
  'in_review',
  'changes_requested',
  'handoff',
  'blocked',
  'waiting',
  'done',
  'cancelled',
] as const;
export type Status = (typeof STATUSES)[number];

/** Statuses in which a task's owned paths are someone's work in flight. */
export const IN_FLIGHT: ReadonlySet<Status> = new Set(['in_progress', 'review', 'in_review', 'changes_requested', 'handoff']);

/** Done or cancelled: a finished task counts as out of the way for whoever depends on it. */
export const isFinished = (s: Status) => s === 'done' || s === 'cancelled';

export const KINDS = ['task', 'goal', 'gate'] as const;
export type Kind = (typeof KINDS)[number];

export const PROFILES = ['safe', 'balanced', 'throughput'] as const;
export type Profile = (typeof PROFILES)[number];

export const ROLES = ['worker', 'reviewer', 'orchestrator'] as const;
export type Role = (typeof ROLES)[number];
