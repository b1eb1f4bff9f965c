import type { Notification } from '../rules/notifications.js';
import type { BoardSummary } from '../rules/summary.js';
import type { BatonEvent } from '../rules/types.js';
import { STATUSES } from '../rules/types.js';

export interface WatchSnapshot {
  summary: BoardSummary;
  events: BatonEvent[];
  /** The chosen agent's unacked notifications (--agent), or null. */
  inbox: { agent: string; notifications: Notification[] } | null;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ');

function countdown(iso: string, nowMs: number): string {
  const s = Math.round((Date.parse(iso) - nowMs) / 1000);
  if (s <= 0) return `lease lapsed ${-s}s ago`;
  return s >= 120 ? `lease ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `lease ${s}s`;
}

/** The live board as plain lines (colour is added by the caller on a TTY). */
export function renderWatch(snap: WatchSnapshot, nowMs: number, width: number): string[] {
  const s = snap.summary;
  const w = Math.max(40, width);
  const out: string[] = [];
  out.push(clip(`${oneLine(s.project)} · revision ${s.revision} · profile ${s.profile} · ${new Date(nowMs).toISOString().slice(11, 19)} UTC · q quits`, w));
  out.push(clip(STATUSES.filter((st) => s.counts[st] > 0).map((st) => `${st} ${s.counts[st]}`).join(' · ') || 'empty board', w));
  out.push('', 'In flight:');
  if (!s.in_progress.length) out.push('  —');
  for (const t of s.in_progress) out.push(clip(`  ${t.id.padEnd(14)} ${(t.assignee ?? '').padEnd(12)} ${t.lease ? countdown(t.lease.expires_at, nowMs).padEnd(16) : t.status.padEnd(16)} ${oneLine(t.title)}`, w));
  out.push('', 'Review queue:');
  if (!s.review_queue.length) out.push('  —');
  for (const t of s.review_queue) out.push(clip(`  ${t.id.padEnd(14)} ${t.status.padEnd(10)} ${(t.reviewer ?? '').padEnd(12)} ${oneLine(t.title)}`, w));
  out.push('', `Ready next (${s.ready_count}):`);
  for (const t of s.ready.slice(0, 5)) out.push(clip(`  ${t.id.padEnd(14)} P${t.priority}  ${oneLine(t.title)}`, w));
  out.push('', 'Recent events:');
  for (const e of snap.events) out.push(clip(`  #${e.seq} ${e.ts.slice(11, 19)} ${e.type}${e.task ? ` ${e.task}` : ''}${e.actor ? ` by ${e.actor}` : ''}`, w));
  if (snap.inbox) {
    out.push('', `Inbox of ${snap.inbox.agent}:`);
    if (!snap.inbox.notifications.length) out.push('  —');
    for (const n of snap.inbox.notifications.slice(-5)) out.push(clip(`  #${n.seq} ${n.kind}${n.count > 1 ? ` ×${n.count}` : ''}${n.task ? ` ${n.task}` : ''}${n.text ? `: ${oneLine(n.text)}` : ''}`, w));
  }
  return out;
}
