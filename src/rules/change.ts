import type { TaskFinder } from './finder.js';
import type { BatonEvent, Config, Session, State, Task } from './types.js';

/**
 * What a rule changes the board through: the transaction's private copy of the state, its clock,
 * and the events it emits. The store's transaction (store/tx.ts) makes one for each mutation; a
 * rule only ever sees this interface.
 */

export interface EmitInput {
  type: string;
  task?: string | null;
  data?: Record<string, unknown>;
  notify?: BatonEvent['notify'];
  actor?: string | null;
  session?: string | null;
}

/** What a mutation's apply function gets: a private copy of the state to change in place. */
export interface Tx {
  state: State;
  config: Config;
  /** The one timestamp of this transaction. */
  now: string;
  /** The revision the board will have if this transaction commits. */
  revision: number;
  emit(e: EmitInput): void;
  /** Marks a task changed in this transaction (updated_at, rev). */
  touch(task: Task): void;
  /** Marks a task added in this transaction. */
  created(task: Task): void;
  /**
   * Takes a finished task off the board into archive/tasks/ (store/archivefiles.ts), with a task.archived
   * event; `record: false` when the archive already holds this very copy (a git merge brought
   * the task back from the side that had not archived it).
   */
  archive(task: Task, data?: Record<string, unknown>, record?: boolean): void;
  /** Sets who the following events are by (an authenticated command, once it knows). */
  actAs(actor: string, session: string): void;
  /**
   * False when this machine's clock is further from the board storage's than clock_skew_seconds:
   * such a transaction takes back no lease or session (clock.ts).
   */
  clockTrusted: boolean;
  /** The tasks a rule asks about without naming them (finder.ts): a superset it checks task by task. */
  find: TaskFinder;
}

/** The calling session, once authenticated: who claims, reviews and handoffs act as. */
export interface Me {
  session: Session;
  agentId: string;
}
