import { invalidInput, notFound } from '../core/errors.js';
import { effectiveCursor, readCursors } from '../core/cursors.js';
import { readLiveTail } from '../core/events.js';
import { fold } from '../core/inbox.js';
import { checkId } from '../core/ids.js';
import { eventReaches, inboxCursor } from '../core/notify.js';
import { readConfig, readState } from '../core/store.js';
import { summarize } from '../core/summary.js';
import { stateStamp, waitForChange } from '../core/watch.js';
import { renderWatch, type WatchSnapshot } from '../render/watch.js';
import { boardDir, type Ctx } from './context.js';

export interface WatchIO {
  tty: boolean;
  json: boolean;
  width: () => number;
  write: (s: string) => void;
  /** Resolves when the person asks to quit (q, Ctrl-C) or the process is told to stop. */
  quit: Promise<void>;
}

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
  return { summary, events, inbox };
}

/**
 * The live board for people. On a TTY: redrawn in place on every commit (file events) and
 * every second (lease countdowns), until q or Ctrl-C. Elsewhere: a snapshot each time the
 * board changes, scrolling (with --json, one JSON object a line). --timeout S stops it.
 */
export async function run(o: { agent?: string; timeout?: string }, ctx: Ctx, io: WatchIO): Promise<{ revision: number; redraws: number }> {
  const agentId = o.agent === undefined ? null : checkId(o.agent, 'agent id');
  const timeout = o.timeout === undefined ? null : Number(o.timeout);
  if (timeout !== null && (!Number.isFinite(timeout) || timeout <= 0)) throw invalidInput(`Invalid --timeout '${o.timeout}': give seconds.`);
  const dir = boardDir(ctx);
  const end = timeout === null ? Number.MAX_SAFE_INTEGER : Date.now() + timeout * 1000;
  let quitting = false;
  void io.quit.then(() => {
    quitting = true;
  });
  let redraws = 0;
  let lastRevision = -1;
  if (io.tty) io.write('\u001b[?1049h\u001b[?25l'); // alternate screen, hide the cursor
  try {
    while (!quitting && Date.now() < end) {
      const stamp = stateStamp(dir);
      const snap = await snapshot(dir, agentId);
      if (io.tty) {
        io.write(`\u001b[H\u001b[2J${renderWatch(snap, Date.now(), io.width()).join('\n')}\n`);
        redraws++;
      } else if (snap.summary.revision !== lastRevision) {
        io.write(io.json ? `${JSON.stringify({ revision: snap.summary.revision, counts: snap.summary.counts, in_progress: snap.summary.in_progress.map((t) => ({ id: t.id, assignee: t.assignee, lease: t.lease?.expires_at ?? null })), events: snap.events.map((e) => ({ seq: e.seq, type: e.type, task: e.task, actor: e.actor })) })}\n` : `${renderWatch(snap, Date.now(), io.width()).join('\n')}\n\n`);
        redraws++;
      }
      lastRevision = snap.summary.revision;
      // Wake on the next commit; on a TTY also every second, for the countdowns.
      const until = Math.min(end, io.tty ? Date.now() + 1000 : end);
      await Promise.race([waitForChange(dir, stamp, until), io.quit]);
    }
  } finally {
    if (io.tty) io.write('\u001b[?25h\u001b[?1049l');
  }
  return { revision: lastRevision, redraws };
}
