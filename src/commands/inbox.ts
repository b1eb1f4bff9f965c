import { historyOf } from '../store/eventlog.js';
import { authenticate } from '../rules/sessions.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { readLiveTail } from '../store/eventlog.js';
import { ackable, type Notification } from '../rules/notifications.js';
import { ackCursor, unread } from '../store/cursors.js';
import { bounded } from '../rules/json.js';
import { checkTargetKnown, inboxCursor, parseTarget } from '../rules/notify.js';
import { checkNote, splitList } from '../rules/taskmodel.js';
import { untilAnswer, waitUntil } from '../store/waiting.js';
import { checkId } from '../rules/ids.js';
import { answerQuestion, askQuestion } from '../rules/questions.js';
import { readConfig, readState } from '../store/store.js';
import { renewEvery, renewLeases } from '../rules/leases.js';
import type { Question } from '../rules/types.js';
import { boardDir, type Ctx, loadHot, mutate, mutateAs } from './context.js';

export type { Notification };

export interface InboxResult {
  revision: number;
  agent: string;
  notifications: Notification[];
  /** The seq the inbox is acked up to (cursors.json). */
  acked: number;
  /** `baton inbox ack --to N` hides exactly what this answer showed. */
  ack_command: string | null;
  /** More unacked notifications wait than --limit showed: the oldest come first, so acking what was shown hides nothing unseen. */
  truncated: boolean;
}

const INBOX_LIMIT = 500;

export async function inbox(o: { watch?: number; kind?: string; all?: boolean; limit?: number; ack?: boolean }, ctx: Ctx): Promise<InboxResult> {
  if (o.ack && (o.kind !== undefined || o.all)) {
    throw invalidInput('--ack marks everything up to a seq read, so it goes without --kind and --all (they would hide what they did not show).', 'baton inbox --ack');
  }
  const dir = boardDir(ctx);
  const { answer, to } = await untilAnswer(
    dir,
    o.watch ?? null,
    ctx.stop,
    async () => {
      // The read index is enough: who you are (sessions, agents) and the log's committed end (seq).
      const { state } = await loadHot(ctx);
      const { agent } = authenticate(state, ctx.creds);
      const { acked, notifications: folded } = unread(dir, state, agent, o);
      const { items: notifications, truncated } = bounded(folded, Math.min(o.limit ?? INBOX_LIMIT, INBOX_LIMIT));
      // With --kind or --all an ack would hide what this answer did not show: it offers none.
      const to = o.kind || o.all ? null : ackable(notifications, folded.slice(notifications.length), acked);
      const answer: InboxResult = { revision: state.revision, agent: agent.id, notifications, acked, ack_command: to === null ? null : `baton inbox ack --to ${to}`, truncated };
      return { answer, to };
    },
    (r) => r.answer.notifications.length > 0,
  );
  if (!o.ack || to === null) return answer;
  const acked = await inboxAck({ to }, ctx);
  return { ...answer, acked: acked.acked, ack_command: null };
}


export function renderInbox(r: InboxResult): string {
  if (!r.notifications.length) return `Inbox of ${r.agent} is empty.`;
  const lines = r.notifications.map(
    (n) => `#${n.seq} ${n.ts} ${n.kind}${n.count > 1 ? ` ×${n.count}` : ''}${n.task ? ` ${n.task}` : ''}${n.text ? `: ${n.text.replace(/\s+/g, ' ').slice(0, 120)}` : ''}${n.priority === 'high' ? ' (high)' : ''}`,
  );
  return [...lines, `next: ${r.ack_command}`].join('\n');
}

export interface InboxAckResult {
  revision: number;
  agent: string;
  acked: number;
}

/** Acks the calling agent's inbox up to a seq (default: everything so far); the revision stays. */
export async function inboxAck(o: { to?: number }, ctx: Ctx): Promise<InboxAckResult> {
  let agentId = '';
  const r = await ackCursor(boardDir(ctx), ctx.lockTimeoutMs, o.to, (state) => {
    agentId = authenticate(state, ctx.creds).agent.id;
    return inboxCursor(agentId);
  });
  return { revision: r.revision, agent: agentId, acked: r.seq };
}

// ---------------------------------------------------------------- send

export interface SendResult {
  revision: number;
  to: string;
  text: string;
  seq: number;
}

export async function send(o: { to?: string; priority?: string }, message: string, ctx: Ctx): Promise<SendResult> {
  if (!o.to) throw invalidInput('Say who to: --to agent:ID, workers, reviewers, orchestrator, all, or role:specialty.');
  const to = parseTarget(o.to);
  const body = checkNote(message ?? '').trim();
  if (!body) throw invalidInput('The message is empty.');
  const priority = (o.priority ?? 'normal').toLowerCase();
  if (!['low', 'normal', 'high'].includes(priority)) throw invalidInput(`Invalid --priority '${o.priority}': low, normal or high.`);
  const dir = boardDir(ctx);
  const r = await mutateAs(ctx, (tx, me) => {
    checkTargetKnown(tx.state, to);
    const limit = tx.config.notifications.rate_limit_per_minute;
    const since = Date.parse(tx.now) - 60_000;
    const mine = readLiveTail(dir, tx.state.seq, 0, (l) => l.includes('"type":"message.sent"') && l.includes(`"actor":"${me.agentId}"`), limit).filter((e) => Date.parse(e.ts) > since);
    if (mine.length >= limit) {
      throw new BatonError('RATE_LIMITED', `${me.agentId} sent ${mine.length} messages in the last minute; the limit is ${limit} (notifications.rate_limit_per_minute).`, {
        hint: 'wait a minute, or send one message to a wider target',
        details: { limit, retry_after_seconds: Math.max(1, Math.ceil((Date.parse(mine[0]!.ts) + 60_000 - Date.parse(tx.now)) / 1000)) },
      });
    }
    const text = `[from ${me.agentId}] ${body}`;
    tx.emit({ type: 'message.sent', data: { to, text }, notify: { targets: [to], kind: 'message', priority: priority as 'low' | 'normal' | 'high' } });
    return { to, text, seq: tx.state.seq + 1 };
  });
  return { revision: r.revision, ...r.value };
}

export const renderSend = (r: SendResult) => `Sent to ${r.to} (#${r.seq}).`;

// ---------------------------------------------------------------- ask / answer

export interface AskResult {
  revision: number;
  question: Question;
  /** True once the question has its answer (with --watch, when it came in time). */
  answered: boolean;
}

export async function ask(text: string, o: { to: string; choices?: string; watch?: number }, ctx: Ctx): Promise<AskResult> {
  const choices = splitList(o.choices);
  const r = await mutateAs(ctx, (tx, me) => askQuestion(tx, me, o.to, text, choices));
  const asked = r.value;
  if (o.watch === undefined) return { revision: r.revision, question: asked, answered: false };
  const dir = boardDir(ctx);
  // Stopped at its checkpoint, the asker keeps its session and its leases alive, as a heartbeat would.
  const every = renewEvery((await readConfig(dir)).lease_ttl_seconds);
  let renewed = Date.now();
  const read = async () => {
    if (Date.now() - renewed >= every) {
      renewed = Date.now();
      await mutateAs(ctx, (tx, me) => renewLeases(tx, historyOf(dir, tx.state), me, null, undefined));
    }
    return readState(dir);
  };
  const state = await waitUntil(dir, read, (st) => Boolean(st.questions?.[asked.id]?.answer), { deadline: Date.now() + o.watch * 1000, stop: ctx.stop, pollMs: every });
  const now = state.questions?.[asked.id] ?? asked;
  return { revision: state.revision, question: now, answered: Boolean(now.answer) };
}

export const renderAsk = (r: AskResult): string =>
  r.answered
    ? `${r.question.answer!.text}`
    : `Asked ${r.question.to} (question ${r.question.id}); the answer comes with baton answer ${r.question.id} "…"${r.question.choices.length ? ` (one of ${r.question.choices.join(', ')})` : ''}.`;

export interface AnswerResult {
  revision: number;
  question: Question;
}

export async function answer(rawId: string, text: string, ctx: Ctx): Promise<AnswerResult> {
  const id = checkId(rawId, 'question id');
  const r = await mutate(ctx, (tx) => {
    let by: string | null = null;
    if (ctx.creds.session) {
      const { session, agent } = authenticate(tx.state, ctx.creds);
      tx.actAs(agent.id, session.id);
      by = agent.id;
    }
    return answerQuestion(tx, id, text, by);
  });
  return { revision: r.revision, question: r.value };
}

export const renderAnswer = (r: AnswerResult): string => `Answered ${r.question.id} for ${r.question.from_agent}: ${r.question.answer!.text}`;

export const renderInboxAck = (r: InboxAckResult) => `Inbox of ${r.agent} acked up to ${r.acked}.`;
