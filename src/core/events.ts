import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BatonError } from './errors.js';
import { FILES, readEvents, readVoid } from './store.js';
import type { BatonEvent } from './types.js';

/**
 * The event log beyond the live file: archives (events moved out by retention, never deleted);
 * cursors (read positions) are in cursors.ts.
 */

export const ARCHIVE_DIR = join('archive', 'events');
const ARCHIVE_RE = /^(\d+)-(\d+)\.jsonl$/;

export interface ArchiveFile {
  file: string;
  first: number;
  last: number;
  bytes: number;
}

export function listArchives(dir: string): ArchiveFile[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, ARCHIVE_DIR));
  } catch {
    return [];
  }
  const out: ArchiveFile[] = [];
  for (const n of names) {
    const m = ARCHIVE_RE.exec(n);
    if (!m) continue;
    let bytes: number;
    try {
      bytes = statSync(join(dir, ARCHIVE_DIR, n)).size;
    } catch {
      continue; // consolidated away by a reconciliation since the listing
    }
    out.push({ file: join(ARCHIVE_DIR, n), first: Number(m[1]), last: Number(m[2]), bytes });
  }
  return out.sort((a, b) => a.first - b.first);
}

/** The highest seq in archive/events/ (0 when nothing was archived); archives may overlap after a merge. */
export const archivedThrough = (dir: string): number => Math.max(0, ...listArchives(dir).map((a) => a.last));

function parseLines(text: string, file: string): BatonEvent[] {
  const out: BatonEvent[] = [];
  let n = 0;
  for (const line of text.split('\n')) {
    n++;
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as BatonEvent);
    } catch {
      throw new BatonError('BOARD_CORRUPT', `${file}:${n}: an event line is not valid JSON.`, { hint: 'restore it from git, then `baton doctor`', details: { file, line: n } });
    }
  }
  return out;
}

/**
 * Events with since < seq ≤ maxSeq, across archives and the live log, in seq order. A crash
 * between writing an archive and rewriting the live log leaves an event in both: each seq is
 * taken once.
 */
export function readEventsSince(dir: string, since: number, maxSeq: number): BatonEvent[] {
  const out: BatonEvent[] = [];
  let next = since + 1;
  for (const a of listArchives(dir)) {
    if (a.last < next) continue;
    for (const e of parseLines(readFileSync(join(dir, a.file), 'utf8'), a.file)) {
      if (e.seq >= next && e.seq <= maxSeq) {
        out.push(e);
        next = e.seq + 1;
      }
    }
  }
  for (const e of readEvents(dir, maxSeq)) {
    if (e.seq >= next) {
      out.push(e);
      next = e.seq + 1;
    }
  }
  return out;
}

/**
 * The newest events of the live log, newest last, reading backwards from the end in chunks
 * and stopping at `stopSeq` (exclusive) or once `keep` has accepted `limit` events. Lines a
 * cheap text test rules out are never parsed: an inbox on a 50,000-event log reads its tail.
 */
export function readLiveTail(dir: string, maxSeq: number, stopSeq: number, keep: (line: string) => boolean, limit = Infinity): BatonEvent[] {
  let fd: number;
  try {
    fd = openSync(join(dir, FILES.events), 'r');
  } catch {
    return [];
  }
  const picked: BatonEvent[] = [];
  const voided = readVoid(dir);
  try {
    let end = fstatSync(fd).size;
    let carry = '';
    while (end > 0 && picked.length < limit) {
      const len = Math.min(end, 1 << 18);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, end - len);
      end -= len;
      const text = buf.toString('utf8') + carry;
      const lines = text.split('\n');
      carry = end > 0 ? lines.shift()! : '';
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!;
        if (!line) continue;
        const m = /"seq":(\d+)/.exec(line);
        if (!m) continue;
        const seq = Number(m[1]);
        if (seq > maxSeq) continue;
        if (seq <= stopSeq) return picked.reverse();
        if (!keep(line)) continue;
        let ev: BatonEvent;
        try {
          ev = JSON.parse(line) as BatonEvent;
        } catch {
          continue; // a torn line past the committed state
        }
        if (voided.has(ev.id)) continue; // a transaction that never committed (store.ts VOID)
        picked.push(ev);
        if (picked.length >= limit) break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return picked.reverse();
}

export function ensureArchiveDir(dir: string): string {
  const p = join(dir, ARCHIVE_DIR);
  mkdirSync(p, { recursive: true });
  return p;
}

/** The newest notifications for NOTIFICATIONS.md: at most 50, from the last 2,000 events. */
export function recentNotifications(dir: string, seq: number): BatonEvent[] {
  return readLiveTail(dir, seq, Math.max(0, seq - 2000), (l) => !l.includes('"notify":null'), 50);
}
