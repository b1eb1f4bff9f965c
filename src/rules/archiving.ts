import { cmp } from './json.js';
import { isFinished } from './taskmodel.js';
import type { State, Task } from './types.js';

/** Which archived ids a board remembers and which finished tasks are due for the archive (store/archivefiles.ts writes them). */

const DAY_MS = 86_400_000;

/**
 * state.json's `archived`: the ids this board archived in the last 30 days, at most 2,000 (the
 * newest). A git merge reads them (merge.ts): a task one side archived and the other still has
 * unchanged since their common base stays archived. An older archiving met in a merge is settled
 * by the next write instead (settleArchive). A pure function of the map, so both sides of a merge
 * prune alike.
 */
const TOMBSTONES = { days: 30, max: 2000 };

export function pruneTombstones(map: Record<string, string>): Record<string, string> | undefined {
  const entries = Object.entries(map);
  if (!entries.length) return undefined;
  let newest = '';
  for (const [, at] of entries) if (at > newest) newest = at;
  const cutoff = new Date(Date.parse(newest) - TOMBSTONES.days * DAY_MS).toISOString();
  const kept = entries.filter(([, at]) => at >= cutoff);
  if (kept.length === entries.length && kept.length <= TOMBSTONES.max) return map;
  kept.sort(([a, x], [b, y]) => cmp(y, x) || cmp(a, b));
  return Object.fromEntries(kept.slice(0, TOMBSTONES.max).sort(([a], [b]) => cmp(a, b)));
}

/**
 * The finished tasks (done, cancelled) last changed more than `days` ago (0: every finished
 * task), oldest first. A child of a goal still open stays until the goal finishes: the goal's
 * progress is counted on the board.
 */
/** The instant (ms) a finished task must have last changed by to be archived after `days`. */
export const archiveCutoff = (now: string, days: number): number => Date.parse(now) - days * DAY_MS;

export function archivable(state: State, now: string, days: number, candidates: Iterable<Task> = Object.values(state.tasks)): Task[] {
  const cutoff = archiveCutoff(now, days);
  // Any goal above it still open (a parent chain may loop: each goal is visited once).
  const openParent = (t: Task) => {
    const seen = new Set<string>();
    for (let p = t.parent ? state.tasks[t.parent] : undefined; p && !seen.has(p.id); p = p.parent ? state.tasks[p.parent] : undefined) {
      if (!isFinished(p.status)) return true;
      seen.add(p.id);
    }
    return false;
  };
  return [...candidates]
    .filter((t) => isFinished(t.status) && (days === 0 || Date.parse(t.updated_at) <= cutoff) && !openParent(t))
    .sort((a, b) => cmp(a.updated_at, b.updated_at) || cmp(a.id, b.id));
}

