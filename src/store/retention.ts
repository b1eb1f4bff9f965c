import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { archivedThrough, ensureArchiveDir, parseEventLog } from './eventlog.js';
import { FILES, writeFileAtomic } from './store.js';

export interface PruneLimits {
  /** Keep at most this many events in the live log (0: no limit). */
  maxRows: number;
  /** Move events older than this many days (0: no limit). */
  maxAgeDays: number;
}

export interface PruneResult {
  moved: number;
  archive: string | null;
  kept: number;
}

const pad = (n: number) => String(n).padStart(9, '0');

/**
 * Moves the oldest committed events of the live log into archive/events/<first>-<last>.jsonl
 * (never deletes). Call under the board lock, after crash leftovers were repaired. The archive
 * is written (fsync) before the live log is rewritten (temp, fsync, rename): a crash between
 * the two leaves an event in both, which readers take once and the next write reconciles.
 */
export function pruneEvents(dir: string, limits: PruneLimits, nowMs: number, via: string): PruneResult {
  let text: string;
  try {
    text = readFileSync(join(dir, FILES.events), 'utf8');
  } catch {
    return { moved: 0, archive: null, kept: 0 };
  }
  // Every line must be an event: a prune never moves an unreadable line out of sight (BOARD_CORRUPT
  // names it; doctor --repair quarantines it), and a log with conflict markers or a torn tail is
  // for a reconciliation to put in order first.
  const parsed = parseEventLog(text, FILES.events, { live: true, markers: true });
  if (parsed.markers || parsed.tornBytes) return { moved: 0, archive: null, kept: parsed.events.length };
  const archived = archivedThrough(dir);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const seqOf = (l: string) => Number(/"seq":(\d+)/.exec(l)?.[1] ?? 0);
  // Only a log numbered archived+1, archived+2, … is pruned: anything else is for a reconciliation
  // to put in order first (the next write does), and a prune never drops a line it did not archive.
  const live = lines;
  if (live.some((l, k) => seqOf(l) !== archived + 1 + k)) return { moved: 0, archive: null, kept: live.length };
  let cut = 0;
  if (limits.maxRows > 0 && live.length > limits.maxRows) cut = live.length - limits.maxRows;
  if (limits.maxAgeDays > 0) {
    const oldest = nowMs - limits.maxAgeDays * 86_400_000;
    while (cut < live.length) {
      const ts = /"ts":"([^"]+)"/.exec(live[cut]!)?.[1];
      if (!ts || Date.parse(ts) >= oldest) break;
      cut++;
    }
  }
  if (cut === 0) return { moved: 0, archive: null, kept: live.length };
  let archive: string | null = null;
  if (cut > 0) {
    const moved = live.slice(0, cut);
    const name = `${pad(seqOf(moved[0]!))}-${pad(seqOf(moved[moved.length - 1]!))}.jsonl`;
    archive = join(ensureArchiveDir(dir), name);
    writeFileAtomic(archive, `${moved.join('\n')}\n`, true, via);
  }
  const kept = live.slice(cut);
  writeFileAtomic(join(dir, FILES.events), kept.length ? `${kept.join('\n')}\n` : '', true, via);
  return { moved: cut, archive, kept: kept.length };
}
