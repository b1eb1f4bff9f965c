import { BatonError, invalidInput, notFound } from './errors.js';
import { mintId } from './ids.js';
import type { Me } from './change.js';
import type { Tx } from './change.js';
import type { Agent, Question, State } from './types.js';

/**
 * Checkpoints (SPEC §14): a child stops at a decision and asks (`baton ask`), and whoever it asked
 * answers (`baton answer`). A question lives in state.json (`questions`) from the asking to the
 * answer, so STATUS.md, `next` and the target's inbox all see it open; the `question.asked` event
 * notifies the target, `question.answered` the asker.
 */

const LIMITS = { text: 8_000, choices: 20, choice: 200 };

/** Who a question goes to, as a notification target: its parent's agent, the orchestrator, or an agent. */
function questionTarget(state: State, me: Me, to: string): { target: string; via: string | null } {
  const t = to.trim().toLowerCase();
  if (t === 'orchestrator') return { target: 'orchestrator', via: null };
  if (t === 'parent') {
    const parent = me.session.parent ? state.sessions[me.session.parent] : undefined;
    // A parent that has ended can't answer: the question goes to the orchestrator.
    if (!parent || parent.ended_at) return { target: 'orchestrator', via: parent ? `parent session ${parent.id} has ended` : 'no parent session' };
    return { target: `agent:${parent.agent}`, via: null };
  }
  const m = /^agent:([a-z0-9][a-z0-9._-]{0,63})$/.exec(t);
  if (m) {
    if (!state.agents[m[1]!]) throw notFound('agent', m[1]!, 'baton agents');
    return { target: `agent:${m[1]}`, via: null };
  }
  throw invalidInput(`--to takes parent, orchestrator or agent:ID, not '${to}'.`, undefined, { field: 'to' });
}

function checkQuestion(text: string, choices: string[]): void {
  if (!text.trim()) throw invalidInput('The question is empty.');
  if (text.length > LIMITS.text) throw invalidInput(`The question is ${text.length} characters; the limit is ${LIMITS.text}.`);
  if (choices.length > LIMITS.choices) throw invalidInput(`Too many choices (${choices.length}); the limit is ${LIMITS.choices}.`);
  for (const c of choices) if (c.length > LIMITS.choice) throw invalidInput(`A choice is ${c.length} characters; the limit is ${LIMITS.choice}.`);
}

export function askQuestion(tx: Tx, me: Me, to: string, text: string, choices: string[]): Question {
  checkQuestion(text, choices);
  pruneQuestions(tx);
  const { target, via } = questionTarget(tx.state, me, to);
  const questions = (tx.state.questions ??= {});
  const id = mintId('q', (x) => x in questions, Object.keys(questions).length);
  const task = Object.values(tx.state.tasks).find((t) => t.lease?.session === me.session.id)?.id ?? null;
  const q: Question = { id, from_agent: me.agentId, from_session: me.session.id, to: target, asked_to: to, task, text, choices, asked_at: tx.now, answer: null };
  questions[id] = q;
  tx.emit({
    type: 'question.asked',
    task,
    data: { question: id, to: target, text: `[question ${id} from ${me.agentId}] ${text}${choices.length ? ` (choices: ${choices.join(', ')})` : ''}`, choices, ...(via ? { redirected: via } : {}) },
    notify: { targets: [target], kind: 'question', priority: 'high' },
  });
  return q;
}

export function answerQuestion(tx: Tx, id: string, text: string, by: string | null): Question {
  const q = tx.state.questions?.[id];
  if (!q) throw notFound('question', id, 'baton inbox (questions come as notifications of kind question)');
  if (!q.answer && tx.state.sessions[q.from_session]?.ended_at) {
    throw new BatonError('INVALID_TRANSITION', `Question ${id} was withdrawn: ${q.from_agent}'s session ended before an answer.`, { hint: 'baton agents', details: { question: id } });
  }
  if (q.answer) {
    throw new BatonError('INVALID_TRANSITION', `Question ${id} was answered already (${q.answer.at}${q.answer.by ? ` by ${q.answer.by}` : ''}).`, { hint: `baton show ${q.task ?? ''}`.trim(), details: { question: id } });
  }
  if (!text.trim()) throw invalidInput('The answer is empty.');
  if (text.length > LIMITS.text) throw invalidInput(`The answer is ${text.length} characters; the limit is ${LIMITS.text}.`);
  if (q.choices.length && !q.choices.includes(text.trim())) throw invalidInput(`Answer one of the choices: ${q.choices.join(', ')}.`, undefined, { choices: q.choices });
  q.answer = { text: q.choices.length ? text.trim() : text, by, at: tx.now };
  tx.emit({
    type: 'question.answered',
    task: q.task,
    data: { question: id, text: `[answer to ${id}${by ? ` from ${by}` : ''}] ${q.answer.text}` },
    notify: { targets: [`agent:${q.from_agent}`], kind: 'answer', priority: 'high' },
  });
  return q;
}

/** Open: not answered, and its asker's session has not ended (an asker that left, or a child stopped by its timeout, waits for nothing). */
const isOpen = (state: State, q: Question) => !q.answer && !state.sessions[q.from_session]?.ended_at;

/** The open questions an agent should answer: to it by name, or to the orchestrator when it is one. */
export function questionsFor(state: State, agent: Agent): Question[] {
  return openQuestions(state).filter((q) => q.to === `agent:${agent.id}` || (q.to === 'orchestrator' && agent.role === 'orchestrator'));
}

export const openQuestions = (state: State): Question[] =>
  Object.values(state.questions ?? {})
    .filter((q) => isOpen(state, q))
    .sort((a, b) => (a.asked_at < b.asked_at ? -1 : a.asked_at > b.asked_at ? 1 : a.id < b.id ? -1 : 1));

/**
 * Questions answered (or whose asker ended) more than a week ago leave state.json: their events
 * keep the record, and the board stays the size of the work in flight.
 */
function pruneQuestions(tx: Tx): void {
  const questions = tx.state.questions;
  if (!questions) return;
  const cutoff = new Date(Date.parse(tx.now) - 7 * 86_400_000).toISOString();
  for (const [id, q] of Object.entries(questions)) {
    const closed = q.answer?.at ?? tx.state.sessions[q.from_session]?.ended_at ?? null;
    if (closed !== null && closed < cutoff) delete questions[id];
  }
}
