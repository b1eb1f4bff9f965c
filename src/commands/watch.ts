import { notFound } from '../rules/errors.js';
import { effectiveCursor, readCursors } from '../store/cursors.js';
import { readLiveTail } from '../store/eventlog.js';
import { fold } from '../rules/notifications.js';
import { checkId } from '../rules/ids.js';
import { eventReaches, inboxCursor } from '../rules/notify.js';
import { readConfig, readState } from '../store/store.js';
import { summarize } from '../rules/summary.js';
import { openQuestions } from '../rules/questions.js';
import { sessionState } from '../rules/sessions.js';
import type { Config, State } from '../rules/types.js';
import { waitUntil } from '../store/waiting.js';
import { renderWatch, type WatchSnapshot } from '../render/watchframe.js';
import { boardDir, type Ctx, type RunIO } from './context.js';

async function snapshot(dir: string, agentId: string | null): Promise<WatchSnapshot> {
  const [state, config] = await Promise.all([readState(dir), readConfig(dir)]);
  const summary = summarize(state, config, 8);
  const events = readLiveTail(dir, state.seq, 0, () => true, 8);
  let inbox: WatchSnapshot['inbox'] = null;
  if (agentId) {
    const agent = state.agents[agentId];
    if (!agent) throw notFound('agent', agentId, 'baton agents');
    const acked = effectiveCursor(dir, readCursors(dir)[inboxCursor(agentId)] ?? 0);
    inbox = { agent: agentId, notifications: fold(readLiveTail(dir, state.seq, acked, (l) => !l.includes('"notify":null'), 200).filter((e) => eventReaches(e, agent))) };
  }
  return { summary, events, questions: openQuestions(state), idle: idleAgents(state, config, Date.now()), inbox };
}

/** Agents with a live session and nothing in flight (no task they hold, no review they give), by id. */
function idleAgents(state: State, config: Config, nowMs: number): string[] {
  const busy = new Set<string>();
  for (const t of Object.values(state.tasks)) {
    const holder = t.lease ? state.sessions[t.lease.session]?.agent : undefined;
    if (holder) busy.add(holder);
  }
  const live = new Set(Object.values(state.sessions).filter((x) => sessionState(x, config, nowMs) === 'live').map((x) => x.agent));
  return [...live].filter((a) => !busy.has(a)).sort();
}

/**
 * The live board for people, as frames the CLI draws. On a terminal (`io.tty`): a frame on every
 * commit (file events) and every second (lease countdowns), until q or Ctrl-C. Elsewhere: a
 * frame each time the board changes (scrolling text, or with --json one JSON object a line).
 * --timeout S stops it.
 */
export async function run(o: { agent?: string; timeout?: number }, ctx: Ctx, io: RunIO): Promise<{ revision: number; redraws: number }> {
  const agentId = o.agent === undefined ? null : checkId(o.agent, 'agent id');
  const dir = boardDir(ctx);
  const end = o.timeout === undefined ? Number.MAX_SAFE_INTEGER : Date.now() + o.timeout * 1000;
  let redraws = 0;
  let lastRevision = -1;
  const draw = async () => {
    const snap = await snapshot(dir, agentId);
    if (io.tty || snap.summary.revision !== lastRevision) {
      const s = snap.summary;
      io.emit({
        text: renderWatch(snap, Date.now(), io.width(), io.height()).join('\n'),
        json: { revision: s.revision, counts: s.counts, in_progress: s.in_progress.map((t) => ({ id: t.id, assignee: t.assignee, lease: t.lease?.expires_at ?? null })), events: snap.events.map((e) => ({ seq: e.seq, type: e.type, task: e.task, actor: e.actor })) },
      });
      redraws++;
    }
    lastRevision = snap.summary.revision;
  };
  // A frame on the next commit; on a terminal also every second, for the countdowns.
  await waitUntil(dir, draw, () => false, { deadline: end, pollMs: io.tty ? 1000 : undefined, stop: io.quit });
  return { revision: lastRevision, redraws };
}
