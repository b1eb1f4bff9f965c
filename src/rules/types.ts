/**
 * The board's vocabulary and types, without the zod schemas behind them (schema.ts), so
 * importing a type or a status list costs no start-up time.
 */
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

export const KINDS = ['task', 'goal', 'gate'] as const;
export type Kind = (typeof KINDS)[number];

export const PROFILES = ['safe', 'balanced', 'throughput'] as const;
export type Profile = (typeof PROFILES)[number];

export const ROLES = ['worker', 'reviewer', 'orchestrator'] as const;
export type Role = (typeof ROLES)[number];

export type { Agent, BatonEvent, Config, Handoff, Question, Session, State, Task } from './schema.js';
