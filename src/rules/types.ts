/**
 * The board's vocabulary and types, without the zod schemas behind them (schema.ts), so
 * importing a type or a status list costs no start-up time.
 */
export { KINDS, type Kind, PROFILES, type Profile, ROLES, type Role, STATUSES, type Status } from './vocabulary.js';
export type { Agent, BatonEvent, Config, Handoff, Question, Session, State, Task } from './schema.js';
