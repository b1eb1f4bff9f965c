import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { recentNotifications } from './events.js';
import { machine, pidAlive } from './lock.js';
import { FILES, readConfig, readState, stampOf, writeFileAtomic, writeProjections } from './store.js';
import { renderProjections } from '../render/projections.js';

/**
 * Regenerating the Markdown after a commit, outside the board lock, so another writer never
 * waits for it. Renders are serialised by their own small lock (`.baton.lock.render/`), and
 * each renders the board as it is when it gets that lock, so the files only ever move forward:
 * no file is older than one already written. A render that finds the current state.json
 * already rendered (`.baton.lock.rendered` names the file it rendered) does nothing: renders
 * that pile up behind a slow one coalesce into one. A command returns once the files show its
 * change or a later one. A holder that died (SIGKILL) is passed over.
 */

const RENDER_LOCK = '.baton.lock.render';
const RENDERED = '.baton.lock.rendered';

interface Holder {
  host: string;
  pid: number;
}

/** A render lock whose holder is gone: its process is dead here, or it is old (another host, or no owner written). */
function abandoned(dir: string): boolean {
  const lock = join(dir, RENDER_LOCK);
  let holder: Holder | null = null;
  try {
    holder = JSON.parse(readFileSync(join(lock, 'owner'), 'utf8')) as Holder;
  } catch {
    holder = null;
  }
  if (holder && holder.host === machine().host) return !pidAlive(holder.pid);
  try {
    return Date.now() - statSync(lock).mtimeMs > 30_000;
  } catch {
    return false; // gone meanwhile: the next try takes it
  }
}

const identity = (dir: string): string => {
  const st = stampOf(join(dir, FILES.state));
  return st ? `${st.ino}:${st.mtime}:${st.size}` : 'missing';
};

/** Renders the newest committed state unless it is already rendered; returns the files written. */
export async function renderLatest(dir: string, timeoutMs: number): Promise<string[]> {
  const lock = join(dir, RENDER_LOCK);
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 1.5, 20)) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (abandoned(dir)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() >= deadline) throw new Error('another process kept the render lock past the lock timeout');
    await sleep(delay);
  }
  try {
    writeFileSync(join(lock, 'owner'), JSON.stringify({ host: machine().host, pid: process.pid } satisfies Holder));
    const id = identity(dir);
    let done: string | null = null;
    try {
      done = readFileSync(join(dir, RENDERED), 'utf8').trim();
    } catch {
      done = null;
    }
    if (done === id) return [];
    // The newest state with the config as it is now (a transaction may have changed it: preflight --profile).
    const [state, config] = await Promise.all([readState(dir), readConfig(dir)]);
    const written = writeProjections(dir, renderProjections(state, config, recentNotifications(dir, state.seq)));
    // Recorded after the files: a crash between only costs the next render some work.
    writeFileAtomic(join(dir, RENDERED), `${id}\n`, false);
    return written;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
