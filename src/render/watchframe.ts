import type { Notification } from '../rules/notifications.js';
import type { BoardSummary } from '../rules/summary.js';
import type { BatonEvent, Question } from '../rules/types.js';
import { STATUSES } from '../rules/types.js';

export interface WatchSnapshot {
  summary: BoardSummary;
  events: BatonEvent[];
  /** Open questions, oldest first. */
  questions: Question[];
  /** Agents with a live session and nothing in flight, by id. */
  idle: string[];
  /** The chosen agent's unacked notifications (--agent), or null. */
  inbox: { agent: string; notifications: Notification[] } | null;
}

/**
 * Columns a character takes on a terminal: none for a combining mark or a zero-width one, two for
 * an East Asian wide or full-width one (and the emoji planes), else one.
 */
function cells(code: number): number {
  if ((code >= 0x300 && code <= 0x36f) || (code >= 0x200b && code <= 0x200d) || (code >= 0xfe00 && code <= 0xfe0f)) return 0;
  if (
    (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0xa4cf) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd)
  )
    return 2;
  return 1;
}

/** A line cut to `n` terminal columns (an ellipsis where it was cut), so a frame never wraps. */
function clip(s: string, n: number): string {
  const chars = [...s];
  const widths = chars.map((ch) => cells(ch.codePointAt(0)!));
  if (widths.reduce((x, y) => x + y, 0) <= n) return s;
  let used = 0;
  let out = '';
  for (let i = 0; i < chars.length && used + widths[i]! <= n - 1; i++) {
    used += widths[i]!;
    out += chars[i];
  }
  return `${out}…`;
}

/**
 * User text on one line: controls, line and paragraph separators and the bidi marks (which the
 * CLI would spell out as escapes, longer than the line was measured) become spaces.
 */
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]+/g, ' ');

function countdown(iso: string, nowMs: number): string {
  const s = Math.round((Date.parse(iso) - nowMs) / 1000);
  if (s <= 0) return `lease lapsed ${-s}s ago`;
  return s >= 120 ? `lease ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `lease ${s}s`;
}

/** One part of the frame: its title, its rows (most important first) and how many there are in all. */
interface Part {
  title: string;
  rows: string[];
  total: number;
}

/**
 * The live board as plain lines (colour is added by the caller on a TTY), at most `height` of
 * them. The parts come in the order a lead reads them: what is in flight, what waits on people
 * (reviews, questions, gates, blocked), the inbox asked for, idle agents, what is ready next, the
 * newest events. When they do not all fit, each part keeps its title and first row while there is
 * room, the rest goes to the parts in that order, and each title says how many of its rows it left
 * out; the header says how many in all.
 */
export function renderWatch(snap: WatchSnapshot, nowMs: number, width: number, height = Number.POSITIVE_INFINITY): string[] {
  const s = snap.summary;
  const w = Math.max(10, width);
  const task = (id: string, rest: string) => `  ${id.padEnd(14)} ${rest}`;
  const inFlight = s.counts.in_progress + s.counts.handoff + s.counts.changes_requested;
  const parts: Part[] = [
    { title: 'In flight', total: inFlight, rows: s.in_progress.map((t) => task(t.id, `${(t.assignee ?? '').padEnd(12)} ${t.lease ? countdown(t.lease.expires_at, nowMs).padEnd(16) : t.status.padEnd(16)} ${oneLine(t.title)}`)) },
    { title: 'Review queue', total: s.counts.review + s.counts.in_review, rows: s.review_queue.map((t) => task(t.id, `${t.status.padEnd(10)} ${(t.reviewer ?? '').padEnd(12)} ${oneLine(t.title)}`)) },
    { title: 'Open questions', total: snap.questions.length, rows: snap.questions.map((q) => task(q.id, `${q.from_agent} → ${q.to}: ${oneLine(q.text)}`)) },
    { title: 'Gates waiting for a signal', total: s.gates_waiting_count, rows: s.gates_waiting.map((t) => task(t.id, `${t.gate ? `${t.gate.type}  ` : ''}${oneLine(t.title)}`)) },
    { title: 'Blocked', total: s.counts.blocked, rows: s.blocked.map((t) => task(t.id, `${oneLine(t.title)} — ${oneLine(t.blocked?.reason ?? '')}`)) },
  ];
  if (snap.inbox) {
    const n = snap.inbox.notifications;
    parts.push({ title: `Inbox of ${snap.inbox.agent}`, total: n.length, rows: n.slice().reverse().map((x) => `  #${x.seq} ${x.kind}${x.count > 1 ? ` ×${x.count}` : ''}${x.task ? ` ${x.task}` : ''}${x.text ? `: ${oneLine(x.text)}` : ''}`) });
  }
  parts.push(
    { title: 'Idle agents', total: snap.idle.length, rows: snap.idle.length ? [`  ${snap.idle.join(', ')}`] : [] },
    { title: 'Ready next', total: s.ready_count, rows: s.ready.map((t) => task(t.id, `P${t.priority}  ${oneLine(t.title)}`)) },
    { title: 'Recent events', total: snap.events.length, rows: snap.events.slice().reverse().map((e) => `  #${e.seq} ${e.ts.slice(11, 19)} ${e.type}${e.task ? ` ${e.task}` : ''}${e.actor ? ` by ${e.actor}` : ''}`) },
  );
  const shown = parts.filter((p) => p.rows.length);

  const header = [
    `${oneLine(s.project)} · revision ${s.revision} · profile ${s.profile} · ${new Date(nowMs).toISOString().slice(11, 19)} UTC · q quits`,
    STATUSES.filter((st) => s.counts[st] > 0).map((st) => `${st} ${s.counts[st]}`).join(' · ') || 'empty board',
  ];
  // Lines for the parts: a title each, and a blank line before each when every row fits.
  const room = height - header.length;
  const rowsOf = shown.map(() => 0);
  let left = room - shown.length;
  for (let i = 0; i < shown.length && left > 0; i++) if (shown[i]!.rows.length) (rowsOf[i] = 1), left--;
  for (let i = 0; i < shown.length && left > 0; i++) {
    const more = Math.min(left, shown[i]!.rows.length - rowsOf[i]!);
    rowsOf[i]! += more;
    left -= more;
  }
  const spaced = left >= shown.length;
  const out = [...header];
  let omitted = 0;
  shown.forEach((p, i) => {
    if (room - (out.length - header.length) < 1) {
      omitted += p.total;
      return;
    }
    // Each row is one of the part's items, but the idle agents' one row holds them all.
    const hidden = p.title === 'Idle agents' ? (rowsOf[i] ? 0 : p.total) : p.total - rowsOf[i]!;
    omitted += hidden;
    if (spaced) out.push('');
    out.push(`${p.title} (${p.total}${hidden ? `, ${hidden} not shown` : ''}):`, ...p.rows.slice(0, rowsOf[i]));
  });
  if (omitted && Number.isFinite(height)) out[1] = `${omitted} row${omitted === 1 ? '' : 's'} not shown · ${out[1]}`;
  if (!shown.length) out.push('', 'Nothing in flight, waiting or ready.');
  return out.map((l) => clip(l, w)).slice(0, Number.isFinite(height) ? Math.max(height, 1) : undefined);
}
