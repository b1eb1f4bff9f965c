import type { History } from '../rules/leases.js';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { corrupt, FILES, readVoid } from './store.js';
import type { BatonEvent } from '../rules/types.js';

/**
 * The event log: the one parser of its lines, the live file, and the archives (events moved out
 * by retention, never deleted); cursors (read positions) are in cursors.ts.
 */

/** A git conflict-marker line (diff3's base marker included). */
const MARKER = /^(<{7}|={7}|>{7}|\|{7})( |$)/;

/** One line of a log as an event, or null when it is not one (not JSON, or no string id and numeric seq). */
export function eventOf(line: string): BatonEvent | null {
  let ev: unknown;
  try {
    ev = JSON.parse(line);
  } catch {
    return null;
  }
  return ev && typeof ev === 'object' && typeof (ev as BatonEvent).id === 'string' && typeof (ev as BatonEvent).seq === 'number' ? (ev as BatonEvent) : null;
}

/** The one error for a line of a log that is not an event, naming the file and the line. */
function unreadableLine(file: string, line: number, text: string): Error {
  let why = 'a git conflict marker';
  if (!MARKER.test(text)) {
    try {
      JSON.parse(text);
      why = 'JSON without a string id and a numeric seq';
    } catch {
      why = 'not valid JSON';
    }
  }
  return corrupt(
    file,
    line,
    `a line of the event log that is not an event (${why}); baton will not guess what it was.`,
    'fix or remove that line by hand (git has the committed versions of the file), or run `baton doctor --repair`: it merges conflict markers and sets any other unreadable line aside in quarantine/',
  );
}

/** A line of a log that is neither an event nor a conflict marker, kept aside by doctor --repair. */
export interface BadLine {
  file: string;
  line: number;
  text: string;
}

export interface ParsedLog {
  events: BatonEvent[];
  /** Conflict-marker lines skipped (with `markers`). */
  markers: number;
  /** The unterminated, unreadable last line of the live log, as it was (null: none); `tornBytes` is its length. */
  torn: { line: number; text: string } | null;
  tornBytes: number;
}

export interface ParseLogOptions {
  /** events.jsonl itself: an unterminated last line that is not an event is a torn write, returned as `torn` instead of failing. */
  live?: boolean;
  /** Conflict markers are counted and skipped (a merge or a reconciliation takes every event of both sides); otherwise they are unreadable lines. */
  markers?: boolean;
  /** Unreadable lines are collected here instead of failing (doctor --repair quarantines them). */
  bad?: BadLine[];
}

/**
 * The one parser of a log's text (events.jsonl, an archive, a side of a merge). A line that is
 * not an event is BOARD_CORRUPT naming `file` and the line, unless the options say otherwise.
 */
export function parseEventLog(text: string, file: string, opts: ParseLogOptions = {}): ParsedLog {
  const out: ParsedLog = { events: [], markers: 0, torn: null, tornBytes: 0 };
  const lines = text.split('\n');
  const last = lines.length - 1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.trim()) continue;
    if (opts.markers && MARKER.test(line)) {
      out.markers++;
      continue;
    }
    const ev = eventOf(line);
    if (ev) {
      out.events.push(ev);
      continue;
    }
    // An unterminated last line of the live log is a torn write that never committed.
    if (opts.live && i === last) {
      out.torn = { line: i + 1, text: line };
      out.tornBytes = Buffer.byteLength(line);
      continue;
    }
    if (!opts.bad) throw unreadableLine(file, i + 1, line);
    opts.bad.push({ file, line: i + 1, text: line });
  }
  return out;
}

/** events.jsonl's text, or '' when there is none. */
function readLiveText(dir: string): string {
  try {
    return readFileSync(join(dir, FILES.events), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

/**
 * The live log up to `maxSeq`: events past it belong to a writer that crashed, and events of a
 * transaction that never committed (store.ts VOID) are left out.
 */
export function readEvents(dir: string, maxSeq: number): BatonEvent[] {
  const out: BatonEvent[] = [];
  const voided = readVoid(dir);
  for (const ev of parseEventLog(readLiveText(dir), join(dir, FILES.events), { live: true }).events) {
    if (voided.has(ev.id)) continue;
    if (ev.seq > maxSeq) break;
    out.push(ev);
  }
  return out;
}

const ARCHIVE_DIR = join('archive', 'events');
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
    for (const e of parseEventLog(readFileSync(join(dir, a.file), 'utf8'), join(dir, a.file)).events) {
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

/** How many lines end before byte `pos` of an open file (an error's line number: read only then). */
function linesBefore(fd: number, pos: number): number {
  const buf = Buffer.alloc(pos);
  readSync(fd, buf, 0, pos, 0);
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * The newest events of the live log, newest last, reading backwards from the end in chunks
 * and stopping at `stopSeq` (exclusive) or once `keep` has accepted `limit` events. Lines a
 * cheap text test rules out are never parsed: an inbox on a 50,000-event log reads its tail.
 * A line it reads that is not an event is BOARD_CORRUPT, as for every reader of the log.
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
    // Bytes, not text, are carried across a chunk's edge: a character cut there stays whole.
    let carry = Buffer.alloc(0);
    let atEnd = true;
    while (end > 0 && picked.length < limit) {
      const len = Math.min(end, 1 << 18);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, end - len);
      end -= len;
      let body = carry.length ? Buffer.concat([buf, carry]) : buf;
      if (end > 0) {
        // The first line may begin in an earlier chunk: it is read whole with that one.
        const nl = body.indexOf(10);
        if (nl < 0) {
          carry = body;
          continue;
        }
        carry = body.subarray(0, nl);
        body = body.subarray(nl + 1);
      }
      const lines = body.toString('utf8').split('\n');
      const torn = atEnd ? lines.length - 1 : -1;
      atEnd = false;
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!;
        if (!line) continue;
        const m = /"seq":(\d+)/.exec(line);
        if (m) {
          const seq = Number(m[1]);
          if (seq > maxSeq) continue;
          if (seq <= stopSeq) return picked.reverse();
          if (!keep(line)) continue;
        }
        const ev = eventOf(line);
        if (!ev) {
          if (i === torn) continue; // an unterminated last line: a torn write that never committed
          throw unreadableLine(join(dir, FILES.events), (end > 0 ? linesBefore(fd, end) + 1 : 0) + i + 1, line);
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

/** The log up to a state, for a rule that tells what happened (rules/leases.ts `History`): read only when asked. */
export const historyOf = (dir: string, state: { seq: number }): History => () => readEvents(dir, state.seq);

/** A task's newest events, up to `limit`, as a handoff records them (rules/handover.ts). */
export function recentOfTask(dir: string, state: { seq: number }, task: string, limit = 10): { seq: number; ts: string; type: string; actor: string | null }[] {
  return readLiveTail(dir, state.seq, 0, (l) => l.includes(`"task":"${task}"`), limit).map((e) => ({ seq: e.seq, ts: e.ts, type: e.type, actor: e.actor }));
}
