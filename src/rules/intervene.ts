import { leaseLive } from './leases.js';
import { authenticate, type Credentials } from './sessions.js';
import { BatonError } from './errors.js';
import type { State, Task } from './types.js';

/**
 * Interventions on held work (SPEC §15): work a live session holds changes hands only by its
 * holder, by an explicit takeover of the same agent's earlier session, or by an intervention
 * marked --force (or made by an orchestrator), which is recorded with who made it and told to
 * the holder in words, with the reason.
 */

/** Who runs a command: a session's agent, or, with no session, the person at the OS user and host. */
export interface Caller {
  agent: string | null;
  session: string | null;
  orchestrator: boolean;
  user: string;
  host: string;
}

/**
 * The caller, from the credentials given (checked: wrong ones are refused as any command refuses
 * them); `person` is who runs the command when there is no session (the OS user and host).
 */
export function callerOf(state: State, creds: Credentials, person: { user: string; host: string }): Caller {
  const base = { user: person.user, host: person.host };
  if (!creds.session && !creds.token) return { agent: null, session: null, orchestrator: false, ...base };
  try {
    const { session, agent } = authenticate(state, creds);
    return { agent: agent.id, session: session.id, orchestrator: session.role === 'orchestrator', ...base };
  } catch (e) {
    // A shell still naming a session that has ended (after `baton leave`) is the person at it.
    if (e instanceof BatonError && e.code === 'SESSION_ENDED') return { agent: null, session: null, orchestrator: false, ...base };
    throw e;
  }
}

/** How the caller is named in events and messages: its agent, or user@host. */
const callerName = (c: Caller): string => c.agent ?? `${c.user}@${c.host}`;

export interface Holder {
  session: string;
  agent: string;
}

/**
 * The live session whose work the task is: the holder of a live lease; for a blocked task (a
 * block ends the lease, and keeps the assignee for the record), its assignee while that agent
 * has a session still on.
 */
export function holderOf(state: State, task: Task, nowMs: number): Holder | null {
  if (task.lease && leaseLive(task, nowMs)) {
    const s = state.sessions[task.lease.session];
    if (s && !s.ended_at) return { session: s.id, agent: s.agent };
  }
  if (task.status === 'blocked' && task.assignee) {
    const s = Object.values(state.sessions).find((x) => x.agent === task.assignee && !x.ended_at);
    if (s) return { session: s.id, agent: s.agent };
  }
  return null;
}

/** What an intervention adds to its event: who made it, whose work it was, whether forced, and the words the holder is told. */
export interface Intervention {
  actor: string;
  holder: Holder;
  data: { by: { agent: string | null; session: string | null; user: string; host: string }; holder: Holder; forced: boolean; text: string };
}

/**
 * Checks a change (`verb`: block, cancel, unblock, release) to a task another live session
 * holds. Null when it is the caller's own work (or nobody's); else refused (INVALID_TRANSITION)
 * unless `force` or the caller is an orchestrator, and otherwise the intervention to record.
 */
export function intervention(state: State, task: Task, caller: Caller, force: boolean, verb: string, reason: string | null, nowMs: number): Intervention | null {
  const holder = holderOf(state, task, nowMs);
  if (!holder) return null;
  const own = task.lease && leaseLive(task, nowMs) ? caller.session === holder.session : caller.agent === holder.agent;
  if (own) return null;
  if (!force && !caller.orchestrator) {
    throw new BatonError('NOT_YOURS', `Task ${task.id} is ${holder.agent}'s work (session ${holder.session}, live): only its holder or an orchestrator changes it, or you with --force (${holder.agent} is told, with your reason).`, {
      hint: `baton send --to agent:${holder.agent} "…" to ask, or baton ${verb} ${task.id}${verb === 'block' || verb === 'cancel' || verb === 'release' ? ' --reason "…"' : ''} --force`,
      details: { task: task.id, holder: holder.agent, holder_session: holder.session },
    });
  }
  const by = callerName(caller);
  const done = { block: 'blocked', cancel: 'cancelled', unblock: 'unblocked', release: 'released' }[verb] ?? verb;
  const text = `${task.id} ("${task.title.slice(0, 80)}") was ${done} by ${by}${force ? ' (forced)' : ' (orchestrator)'}${reason ? `: ${reason}` : ''}. It is no longer yours to work on; stop work on it${verb === 'unblock' ? ' (it is back in the queue)' : ''}.`;
  return { actor: by, holder, data: { by: { agent: caller.agent, session: caller.session, user: caller.user, host: caller.host }, holder, forced: force, text } };
}
