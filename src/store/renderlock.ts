import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock } from './acquire.js';
import { RENDER_LOCK } from './lock.js';
import { projectionInputs } from './archivefiles.js';
import { hotIndexExists, readStampedState, sameStamp, type Stamp, stateHead, writeHotIndex } from './hotindex.js';
import type { State } from '../rules/types.js';
import { FILES, loadConfig, readConfig, stampOf, writeFileAtomic, writeProjections } from './store.js';
import { renderProjections } from '../render/projections.js';
import { BoardMoved, readRenderBoard } from './renderboard.js';

/**
 * Regenerating the Markdown (STATUS.md and the rest), the one way every command does it: after a
 * commit, once the board lock is free, so another writer never waits for it (SPEC §13).
 *
 * - Renders take turns under their own lock, `.baton.lock.render/`, taken exactly as the board
 *   lock is (acquire.ts: put in place whole with its owner, a dead holder on this machine judged by
 *   its process, one on another by the lock's age, broken under a break lock, released only by its
 *   holder). A holder of the render lock never takes the board lock, so a caller that holds the
 *   board lock (sync, doctor --repair) may wait for it.
 * - Each render renders the board as it is when it holds that lock: the newest committed state.json
 *   and config.yaml. So the files only ever move forward: none is older than one already written.
 * - `.baton.lock.rendered` names the state.json and config.yaml it rendered (size, mtime, ctime,
 *   inode, and state.json's revision):
 *   a render that finds both unchanged does nothing, so renders that pile up behind a slow one
 *   coalesce into one. The stamps are taken before the files are read: a commit in between only
 *   costs the next render some work, and never leaves a change unrendered.
 * - A command returns once the files show its change (or a later one).
 * - Each render also writes the read index of the state it rendered (hotindex.ts).
 */

const RENDERED = '.baton.lock.rendered';

/** What the marker compares: state.json's stamp and revision (stateHead), config.yaml's stamp; null: unknown, render. */
const marker = (dir: string, head: ReturnType<typeof stateHead>): string | null => (head ? JSON.stringify([head, stampOf(join(dir, FILES.config))]) : null);

/**
 * Renders the newest committed board unless it is rendered already (`force`: render anyway, as
 * `baton render` and doctor --repair do after a hand edit or a git checkout of a generated file).
 * Returns the revision rendered and the files written. `index`: the board index a writer just
 * wrote (what the file holds, unless a later writer rewrote it: its stamps are checked anyway).
 */
export async function renderLatest(dir: string, timeoutMs: number, force = false, committed?: { state: State; stamp: Stamp }, index?: ReadonlyMap<string, string>): Promise<{ revision: number | null; written: string[]; shardsRead?: number }> {
  // A holder on another machine is judged dead as the board lock's is: by lock_stale_seconds.
  const staleMs = (await loadConfig(dir)).config.lock_stale_seconds * 1000;
  const lock = await acquireLock(dir, { timeoutMs, name: RENDER_LOCK, staleMs });
  try {
    const head = stateHead(dir);
    const now = marker(dir, head);
    let done: string | null = null;
    try {
      done = readFileSync(join(dir, RENDERED), 'utf8').trim();
    } catch {
      done = null;
    }
    if (!force && now !== null && done === now && hotIndexExists(dir)) return { revision: null, written: [] };
    // The state a writer just committed, while it is still the newest (its file's stamp and
    // revision); else state.json as it is now: through the board index (renderboard.ts) unless
    // asked to render anyway (after a hand edit, `baton render` trusts no index).
    const current = committed && head && head.revision === committed.state.revision && sameStamp(head.stamp, committed.stamp) ? committed : null;
    const config = await readConfig(dir);
    const render = (state: State, stamp: Stamp): string[] => {
      // Frozen (shallowly): the summary and the index share one board view of it.
      Object.freeze(state);
      const written = writeProjections(dir, renderProjections(state, config, projectionInputs(dir, state)), lock.fence);
      writeHotIndex(dir, state, stamp, lock.fence);
      return written;
    };
    const board = current || force ? null : await readRenderBoard(dir, index);
    let out: { revision: number; written: string[]; shardsRead?: number } | null = null;
    if (board) {
      try {
        out = { revision: board.state.revision, written: render(board.state, board.stamp), shardsRead: board.shardsRead };
        board.keep(lock.fence);
      } catch (e) {
        // A shard moved under it (a commit since): the board as it is now, read whole.
        if (!(e instanceof BoardMoved)) throw e;
        out = null;
      }
    }
    if (!out) {
      const read = current ?? (await readStampedState(dir));
      out = { revision: read.state.revision, written: render(read.state, read.stamp) };
    }
    // Recorded after the files: a crash in between only costs the next render some work.
    writeFileAtomic(join(dir, RENDERED), `${now ?? 'unknown'}\n`, false, lock.fence);
    return out;
  } finally {
    await lock.release();
  }
}
