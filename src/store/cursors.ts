import { closeSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { invalidInput } from '../rules/errors.js';
import { checkId } from '../rules/ids.js';
import { archivedThrough, readEventsSince, readLiveTail } from './eventlog.js';
import { logEnds } from './reconcile.js';
import { type BoardHead, readStateHead, writeFileAtomic } from './store.js';
import type { Agent, State } from '../rules/types.js';
import { fold, type Notification } from '../rules/notifications.js';
import { eventReaches, inboxCursor } from '../rules/notify.js';

/**
 * Cursors: read positions (an agent's inbox ack, `events --cursor NAME`), local to this clone
 * and never committed (cursors.json and cursors.seen are git-ignored), outside the revision.
 *
 * A cursor is a seq, and a seq means "every event up to here". Git can renumber a log: a
 * rebase replays our events after the other side's, a fast-forward brings a log another
 * machine merged in its own order, a reconciliation numbers it again. So an ack also records
 * which events it covered: cursors.seen holds the id of every event up to the highest cursor,
 * as this clone's log had them when it acked (line n = seq n, fixed width, so one record is
 * one read). While the log still has those ids at those seqs, a cursor means what it says.
 * Once git has renumbered it, a cursor is read as the longest run from the start of the
 * current log whose events were all covered: an event merged in below it stays unread (at
 * worst a seen one shows again, never the other way round).
 */

const CURSORS_FILE = 'cursors.json';
const SEEN_FILE = 'cursors.seen';
const WIDTH = 40; // one record: an event id padded with spaces, then a newline

export type Cursors = Record<string, number>;

export function readCursors(dir: string): Cursors {
  try {
    const raw = JSON.parse(readFileSync(join(dir, CURSORS_FILE), 'utf8')) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return {};
    const out: Cursors = {};
    for (const [k, v] of Object.entries(raw)) if (typeof v === 'number' && Number.isInteger(v) && v >= 0) out[k] = v;
    return out;
  } catch {
    return {};
  }
}

function writeCursors(dir: string, cursors: Cursors): void {
  const sorted: Cursors = {};
  for (const k of Object.keys(cursors).sort()) sorted[k] = cursors[k]!;
  writeFileAtomic(join(dir, CURSORS_FILE), `${JSON.stringify(sorted, null, 2)}\n`, true);
}

export const checkCursorName = (raw: string) => checkId(raw, 'cursor name');

/** The id cursors.seen records at `seq`, or null past its end (or with no file: a board from before it). */
function seenAt(dir: string, seq: number): string | null {
  let fd: number;
  try {
    fd = openSync(join(dir, SEEN_FILE), 'r');
  } catch {
    return null;
  }
  try {
    if (seq < 1 || fstatSync(fd).size < seq * WIDTH) return null;
    const buf = Buffer.alloc(WIDTH);
    readSync(fd, buf, 0, WIDTH, (seq - 1) * WIDTH);
    return buf.toString('utf8').trim();
  } finally {
    closeSync(fd);
  }
}

function seenCount(dir: string): number {
  try {
    const fd = openSync(join(dir, SEEN_FILE), 'r');
    try {
      return Math.floor(fstatSync(fd).size / WIDTH);
    } finally {
      closeSync(fd);
    }
  } catch {
    return 0;
  }
}

const record = (id: string) => `${id.slice(0, WIDTH - 1).padEnd(WIDTH - 1)}\n`;

/** The id the current log has at `seq`: read from the live log's tail, or across the archives. */
function logIdAt(dir: string, seq: number): string | null {
  const [e] = readLiveTail(dir, seq, seq - 1, () => true, 1);
  if (e?.seq === seq) return e.id;
  return readEventsSince(dir, seq - 1, seq)[0]?.id ?? null;
}

/** What a cursor at `seq` covers in the current log. */
export function effectiveCursor(dir: string, seq: number): number {
  if (seq <= 0) return 0;
  const recorded = seenAt(dir, seq);
  if (recorded === null) return seq; // acked before cursors.seen existed: taken as it stands
  if (logIdAt(dir, seq) === recorded) return seq;
  // The log was renumbered since the ack: the longest covered run from the start.
  const covered = new Set(
    readFileSync(join(dir, SEEN_FILE), 'utf8')
      .slice(0, seq * WIDTH)
      .split('\n')
      .map((l) => l.trim()),
  );
  let run = 0;
  for (const e of readEventsSince(dir, 0, Number.MAX_SAFE_INTEGER)) {
    if (!covered.has(e.id)) break;
    run = e.seq;
  }
  return run;
}

/**
 * An ack (`events ack --cursor NAME`, `inbox ack`): under the board lock, moves the cursor that
 * `cursorOf` names for the state just read (it may authenticate the caller) to `to`, by default
 * the last event. The board's revision does not change.
 */
export async function ackCursor(dir: string, lockTimeoutMs: number, to: string | number | undefined, cursorOf: (state: BoardHead) => string): Promise<{ revision: number; cursor: string; seq: number }> {
  // Loaded on demand: reads never pay for the lock machinery.
  const { withLock } = await import('./tx.js');
  return withLock(dir, lockTimeoutMs, async () => {
    // state.json alone: an ack holds the board lock, and needs no task.
    const state = await readStateHead(dir);
    const cursor = cursorOf(state);
    const seq = to === undefined ? state.seq : Number(to);
    if (!Number.isInteger(seq) || seq < 0 || seq > state.seq) throw invalidInput(`Invalid --to '${to}': a seq between 0 and ${state.seq} (the last event).`);
    return { revision: state.revision, cursor, seq: moveCursor(dir, cursor, seq) };
  });
}

/**
 * Moves cursor `name` to `to` (call under the board lock, `to` ≤ state.seq). Every other
 * cursor is first re-expressed against the current log, then cursors.seen is brought up to
 * the highest cursor: extended when the log still agrees with it, written again when not.
 */
export function moveCursor(dir: string, name: string, to: number): number {
  const cursors = readCursors(dir);
  for (const [k, v] of Object.entries(cursors)) cursors[k] = effectiveCursor(dir, v);
  // Never past the last event the log holds (a state that git left counting more would make
  // the ack cover events written later).
  const ends = logEnds(dir);
  to = Math.min(to, ends.last ?? archivedThrough(dir));
  cursors[name] = to;
  const upTo = Math.max(0, ...Object.values(cursors));
  const count = seenCount(dir);
  const agrees = count > 0 && seenAt(dir, count) === logIdAt(dir, count);
  // cursors.json first: cursors re-expressed for the current log stay right whether or not a
  // crash lets cursors.seen follow (an old seen file only makes a cursor cover less).
  writeCursors(dir, cursors);
  if (agrees && count >= upTo) return to;
  const from = agrees ? count : 0;
  // Line n is seq n: a gap in the log (git left one, the next write reconciles it) stays a blank line.
  const ids: string[] = [];
  let expect = from + 1;
  // The events after `from`: from the live log's end when it holds every one of them, once each and
  // in order (an ack moves a cursor a few events on; parsing the whole log for them cost an ack 50
  // ms at 10,000 events, under the board lock). Else, as for a log that git left out of order or
  // with gaps, or one pruned past them, the whole log and its archives.
  const tail = ends.first !== null && ends.first <= expect ? readLiveTail(dir, upTo, from, () => true) : null;
  const whole = tail !== null && tail.length === upTo - from && tail.every((e, i) => e.seq === expect + i);
  for (const e of whole ? tail : readEventsSince(dir, from, upTo)) {
    for (; expect < e.seq; expect++) ids.push(record(''));
    ids.push(record(e.id));
    expect = e.seq + 1;
  }
  if (agrees) {
    const fd = openSync(join(dir, SEEN_FILE), 'a');
    try {
      writeSync(fd, ids.join(''));
    } finally {
      closeSync(fd);
    }
  } else writeFileAtomic(join(dir, SEEN_FILE), ids.join(''), false);
  return to;
}

/** How many events an inbox read looks at, at most (the newest that match, after the cursor). */
const SCAN = 2000;

/** An agent's notifications after its inbox cursor (or all, with `all`), folded, oldest first; and the cursor. */
export function unread(dir: string, state: Pick<State, 'seq'>, agent: Agent, o: { kind?: string | undefined; all?: boolean | undefined } = {}): { acked: number; notifications: Notification[] } {
  const acked = effectiveCursor(dir, readCursors(dir)[inboxCursor(agent.id)] ?? 0);
  const events = readLiveTail(dir, state.seq, o.all ? 0 : acked, (line) => !line.includes('"notify":null') && (!o.kind || line.includes(`"kind":"${o.kind}"`)), SCAN).filter(
    (e) => eventReaches(e, agent) && (!o.kind || e.notify!.kind === o.kind),
  );
  return { acked, notifications: fold(events) };
}
