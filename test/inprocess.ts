import { ConfigSchema } from '../src/rules/schema.js';
import type { EmitInput, Me, Tx } from '../src/rules/change.js';
import { wholeFinder } from '../src/rules/finder.js';
import type { Agent, Config, Session, State, Task } from '../src/rules/types.js';

/**
 * Boards in memory for the rules' in-process tests: a task, a state, agents and sessions, and a
 * transaction that records what the rules tell it (no disk, no process).
 */

export const T0 = '2026-01-01T00:00:00.000Z';

export const CONFIG: Config = ConfigSchema.parse({ name: 'unit', profile: 'balanced', ranking: { priority: 100, critical_path: 10, downstream: 5, age_per_day: 1 } });

export function task(id: string, over: Partial<Task> = {}): Task {
  return {
    assignee: null,
    blocked: null,
    candidate_depends_on: [],
    candidate_owned_paths: [],
    created_at: T0,
    depends_on: [],
    description: null,
    estimate: 1,
    gate: null,
    id,
    kind: 'task',
    labels: [],
    lease: null,
    notes: [],
    owned_paths: [],
    parent: null,
    priority: 2,
    rev: 1,
    review_required: null,
    reviewer: null,
    specialty: null,
    status: 'todo',
    title: `title of ${id}`,
    updated_at: T0,
    ...over,
  };
}

export function state(tasks: Task[]): State {
  return {
    schema: 1,
    board: { name: 'unit', created_at: T0 },
    revision: 1,
    seq: 1,
    tasks: Object.fromEntries(tasks.map((t) => [t.id, t])),
    agents: {},
    sessions: {},
    handoffs: {},
  };
}

export const agentNamed = (id: string, role: Agent['role'] = 'worker', specialties: string[] = []): Agent => ({ id, name: id, host: 'h', role, specialties, created_at: T0, last_seen_at: T0 });

export const sessionOf = (id: string, agent: string, role: Session['role'] = 'worker', ended: string | null = null): Session => ({
  agent, depth: 0, end_reason: ended ? 'left' : null, ended_at: ended, heartbeat_at: T0, host: 'h', id, parent: null, role, started_at: T0, token_hash: 'x', window: null,
});

/** A board with these agents, each with one live session `s-<agent>`. */
export function boardWith(tasks: Task[], agents: Agent[]): State {
  const s = state(tasks);
  for (const a of agents) {
    s.agents[a.id] = a;
    s.sessions[`s-${a.id}`] = sessionOf(`s-${a.id}`, a.id, a.role);
  }
  return s;
}

/** The calling session of `agent` on a board made by boardWith. */
export const meOf = (s: State, agent: string): Me => ({ session: s.sessions[`s-${agent}`]!, agentId: agent });

/** A transaction over a literal state that records what it is told (no disk). */
export function fakeTx(s: State, config: Config = CONFIG, now = T0): Tx & { events: EmitInput[]; touched: string[] } {
  const events: EmitInput[] = [];
  const touched: string[] = [];
  return {
    state: s,
    config,
    now,
    revision: s.revision + 1,
    emit: (e) => void events.push(e),
    touch: (t) => void touched.push(t.id),
    created: () => undefined,
    archive: (t) => {
      delete s.tasks[t.id];
      touched.push(t.id);
    },
    actAs: () => undefined,
    clockTrusted: true,
    find: wholeFinder(s),
    events,
    touched,
  };
}

/** The refusal a rule throws, as an agent reads it (code, message, hint), or null when it allows. */
export function refusal(f: () => unknown): { code: string; message: string; hint: string | null } | null {
  try {
    f();
    return null;
  } catch (e) {
    const err = e as { code: string; message: string; hint?: string | null };
    return { code: err.code, message: err.message, hint: err.hint ?? null };
  }
}
