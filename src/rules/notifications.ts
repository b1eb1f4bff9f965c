import type { BatonEvent } from './types.js';

/** One line of an agent's inbox: a notification, or several identical ones folded together. */
export interface Notification {
  /** The newest seq folded into this one: ack up to it to hide them all. */
  seq: number;
  first_seq: number;
  /** How many identical notifications within a minute were folded into this one. */
  count: number;
  ts: string;
  kind: string;
  priority: string;
  targets: string[];
  type: string;
  task: string | null;
  actor: string | null;
  text: string | null;
  /** The question a `question` or `answer` notification is about (what `baton answer` takes), else null. */
  question: string | null;
}

const FOLD_MS = 60_000;

/** Folds identical notifications (same kind, task, sender, text, targets) that come within a minute of the first. */
export function fold(events: BatonEvent[]): Notification[] {
  const out: Notification[] = [];
  const open = new Map<string, Notification>();
  for (const e of events) {
    const text = typeof e.data.text === 'string' ? e.data.text : null;
    const key = JSON.stringify([e.notify!.kind, e.task, e.actor, text, e.notify!.targets, e.type]);
    const prev = open.get(key);
    if (prev && Date.parse(e.ts) - Date.parse(prev.ts) < FOLD_MS) {
      prev.count++;
      prev.seq = e.seq;
      continue;
    }
    const n: Notification = { seq: e.seq, first_seq: e.seq, count: 1, ts: e.ts, kind: e.notify!.kind, priority: e.notify!.priority, targets: e.notify!.targets, type: e.type, task: e.task, actor: e.actor, text, question: typeof e.data.question === 'string' ? e.data.question : null };
    open.set(key, n);
    out.push(n);
  }
  return out;
}

/**
 * How far acking an answer may go: to its last notification, but never past one it did not
 * show (a cut list, and folding, which joins repeats on both sides of the cut), and never back.
 */
export function ackable(shown: Notification[], unshown: Notification[], acked: number): number | null {
  let to = shown.at(-1)?.seq ?? null;
  for (const n of unshown) if (to !== null && n.first_seq <= to) to = n.first_seq - 1;
  return to !== null && to > acked ? to : null;
}
