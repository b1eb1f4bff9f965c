import { type Me } from './change.js';
import { resumeCommand } from './leases.js';
import { PROFILE_LIMITS } from './sessions.js';
import { explainOf, type Explain, heldByEarlier } from './claims.js';
import { cmp } from './json.js';
import { handoffsFor } from './notify.js';
import { boardView, rankTasks } from './rank.js';
import { questionsFor } from './questions.js';
import { reviewQueue } from './reviewing.js';
import { type TaskJson, toTaskJson } from './taskmodel.js';
import type { Config, State, Task } from './types.js';

export type Action = 'continue' | 'take-over' | 'answer' | 'address-review' | 'take-handoff' | 'review' | 'claim' | 'wait' | 'idle';

/** The same step as an MCP tool call (`baton mcp`): the tool's name and its arguments. */
interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** What `next` tells a session to do, with the exact command (and the tool call that does it). */
export interface Advice {
  action: Action;
  task: TaskJson | null;
  command: string | null;
  tool: ToolCall | null;
  reason: string;
  explain: Explain | null;
}

/** The MCP tool call for an action on a task (core tools: a worker claims a handed-off task too). */
function toolFor(action: Action, task: Task | null): ToolCall | null {
  const id = task?.id;
  switch (action) {
    case 'continue':
      return task!.status === 'in_review' ? { name: 'review_approve', arguments: { id } } : { name: 'done', arguments: { id } };
    case 'address-review':
    case 'take-handoff':
    case 'claim':
      return { name: 'claim', arguments: { id } };
    case 'review':
      return { name: 'review', arguments: { id } };
    case 'answer':
      return null; // the question's id is in the command; the answer is the caller's to write
    default:
      return null;
  }
}

/** The single best action for the calling session (SPEC `next`), from a state read without a lock. */
export function decideNext(state: State, config: Config, me: Me, nowMs: number, wantExplain: boolean): Advice {
  const agent = state.agents[me.agentId]!;
  const act = (action: Action, task: Task | null, command: string | null, reason: string, explain: Explain | null = null): Advice => ({
    action,
    task: task ? toTaskJson(task) : null,
    command,
    tool: command?.startsWith('baton next --watch') ? { name: 'next', arguments: { watch_seconds: 60 } } : toolFor(action, task),
    reason,
    explain,
  });
  const view = boardView(state);
  // A question waiting for this agent's answer (an orchestrator's, or a parent's): a child is stopped on it, so it comes first.
  const question = questionsFor(state, agent)[0];
  if (question) {
    const asked = question.text.length > 200 ? `${question.text.slice(0, 200)}…` : question.text;
    return {
      ...act('answer', null, `baton answer ${question.id} "…"`, `${question.from_agent} asks (${question.id}${question.task ? `, on ${question.task}` : ''}): ${asked}${question.choices.length ? ` Choices: ${question.choices.join(', ')}.` : ''}`),
      tool: { name: 'answer', arguments: { id: question.id } },
    };
  }
  const held = view.leased
    .filter((t) => t.lease?.session === me.session.id && Date.parse(t.lease.expires_at) > nowMs)
    .sort((a, b) => cmp(a.lease!.expires_at, b.lease!.expires_at) || cmp(a.id, b.id));
  const first = held[0];
  if (first) {
    const left = Math.round((Date.parse(first.lease!.expires_at) - nowMs) / 1000);
    const command = first.status === 'in_review' ? `baton review approve ${first.id} --json` : `baton done ${first.id} --json`;
    return act('continue', first, command, `You hold ${first.id} (lease ends in ${left}s, at ${first.lease!.expires_at}); keep it with baton heartbeat --task ${first.id}, finish with ${command.replace(' --json', '')}.`);
  }
  const sentBack = view.sentBack
    .filter((t) => t.assignee === agent.id)
    .sort((a, b) => a.priority - b.priority || cmp(a.updated_at, b.updated_at) || cmp(a.id, b.id))[0];
  if (sentBack) return act('address-review', sentBack, `baton claim ${sentBack.id} --json`, `A reviewer sent ${sentBack.id} back to you: see its notes (baton show ${sentBack.id}).`);
  const handed = handoffsFor(state, agent)[0];
  if (handed && state.tasks[handed.task]) {
    return act('take-handoff', state.tasks[handed.task]!, `baton handoff take ${handed.task} --json`, `${handed.from} handed ${handed.task} to ${handed.to}: read project-plan/handoffs/${handed.task}.handoff.md.`);
  }
  if (agent.role === 'reviewer') {
    const queue = reviewQueue(state, agent, config.review.allow_self_review);
    if (queue[0]) return act('review', queue[0], `baton review start ${queue[0].id} --json`, `${queue.length} task(s) wait for review; ${queue[0].id} first.`);
  }
  const unfinished = view.unfinished;
  if (agent.role === 'worker') {
    const limits = PROFILE_LIMITS[config.profile];
    const { ranked, skipped } = rankTasks(state, config, { agent, now: nowMs, pathsRefuse: limits.pathsRefuse, view });
    const explain = wantExplain ? explainOf(ranked, skipped) : null;
    const mine = view.inProgressBy.get(agent.id) ?? [];
    // At the limit with work an earlier session of this agent still holds (a restarted client, a lost token).
    const earlier = mine.length >= limits.inFlight ? heldByEarlier(state, mine, agent.id, me.session.id) : null;
    if (earlier) {
      const command = resumeCommand(agent.name);
      return act('take-over', earlier.task, command, `Your earlier session ${earlier.session} holds ${earlier.task.id}, which counts against your limit of ${limits.inFlight}: take its work over with ${command} (it ends, its leases move to this session).`, explain);
    }
    if (ranked[0] && mine.length < limits.inFlight) {
      const c = ranked[0];
      return act('claim', c.task, `baton claim ${c.task.id} --json`, `${c.task.id} ranks first of ${ranked.length} ready (score ${c.score}).`, explain);
    }
    if (ranked[0]) return act('wait', null, null, `You have ${mine.length} task(s) in progress, the ${config.profile} limit; finish one first.`, explain);
    if (unfinished) return act('wait', null, 'baton next --watch 60 --json', `${unfinished} unfinished task(s), none ready for you: blocked, held, waiting on dependencies or review, or another specialty.`, explain);
    return act('idle', null, null, 'The board is finished: nothing left to do.', explain);
  }
  if (unfinished) return act('wait', null, 'baton next --watch 60 --json', `${unfinished} unfinished task(s), nothing for a ${agent.role} to do now.`);
  return act('idle', null, null, 'The board is finished: nothing left to do.');
}
