import { join } from 'node:path';
import { BatonError } from '../rules/errors.js';
import { FILES, stampOf } from './store.js';

/** Identity of state.json's current version: every commit renames a new file into place. */
function stateStamp(dir: string): string {
  const st = stampOf(join(dir, FILES.state));
  return st ? `${st.ino}:${st.mtime}:${st.size}` : 'missing';
}

/**
 * Waits until state.json changes from `stamp` or the deadline passes; true when it changed.
 * File watching (chokidar: inotify and friends, or polling where the file system has no
 * events, e.g. BATON_WATCH_POLL=1 on network mounts), never a busy loop. The stamp is checked
 * again once the watcher is ready, so a commit that lands while it starts is not missed.
 */
async function waitForChange(dir: string, stamp: string, deadlineMs: number): Promise<boolean> {
  if (stateStamp(dir) !== stamp) return true;
  const remaining = deadlineMs - Date.now();
  if (remaining <= 0) return false;
  const { watchBoard } = await import('./watcher.js');
  const watcher = watchBoard(dir, process.env.BATON_WATCH_POLL === '1');
  try {
    return await new Promise<boolean>((resolve) => {
      // Node fires a timer over 2^31-1 ms at once (and warns): a longer wait ends early and is asked again.
      const timer = setTimeout(() => resolve(false), Math.min(remaining, 2 ** 31 - 1));
      const check = () => {
        if (stateStamp(dir) !== stamp) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      watcher.on('all', (_event, path) => {
        if (path.endsWith('state.json')) check();
      });
      watcher.on('ready', check);
      watcher.on('error', () => {
        /* a watcher error leaves the deadline to end the wait */
      });
    });
  } finally {
    // Bounded: a watcher closed while it is still scanning may never settle its close, and a
    // waiting command must end on time whatever the watcher does (the CLI exits when done).
    await Promise.race([watcher.close(), new Promise((r) => setTimeout(r, 250).unref())]);
  }
}

/**
 * The one wait loop of every waiting command: reads with `read` until `done` says the answer will
 * do or the deadline passes, waking on each commit to the board, and also every `pollMs` when it
 * waits for something no commit announces (a process that died). `stop` ends the wait at once
 * (a person pressed q). Returns the last answer read.
 */
export async function waitUntil<T>(dir: string, read: () => Promise<T>, done: (r: T) => boolean, opts: { deadline: number; pollMs?: number; stop?: Promise<unknown> }): Promise<T> {
  const stopped = Symbol('stopped');
  const stop = opts.stop?.then(() => stopped);
  for (;;) {
    const stamp = stateStamp(dir);
    const r = await read();
    if (done(r) || Date.now() >= opts.deadline) return r;
    const until = opts.pollMs === undefined ? opts.deadline : Math.min(opts.deadline, Date.now() + opts.pollMs);
    const changed = await (stop ? Promise.race([waitForChange(dir, stamp, until), stop]) : waitForChange(dir, stamp, until));
    if (changed === stopped || (!changed && Date.now() >= opts.deadline)) return r;
  }
}

/**
 * Runs `attempt` (a claim of some kind); while it fails with NO_WORK and `watch` seconds have
 * not passed, waits for the next commit to the board and tries again (claim-next, review next,
 * handoff next). On timeout, or once `stop` settles (the caller gave up), the last NO_WORK is
 * thrown: exit 6.
 */
export async function untilWork<T>(dir: string, watch: number | null, stop: Promise<unknown> | undefined, attempt: () => Promise<T>): Promise<T> {
  const tried = await untilAnswer(
    dir,
    watch,
    stop,
    async (): Promise<{ value: T } | { noWork: BatonError }> => {
      try {
        return { value: await attempt() };
      } catch (e) {
        if (e instanceof BatonError && e.code === 'NO_WORK') return { noWork: e };
        throw e;
      }
    },
    (r) => 'value' in r,
  );
  if ('noWork' in tried) throw tried.noWork;
  return tried.value;
}

/**
 * Reads with `read` until `worth` says the answer is worth returning, `watch` seconds pass or
 * `stop` settles, waking on commits (next, inbox, events --watch): the last answer, exit 0.
 */
export function untilAnswer<T>(dir: string, watch: number | null, stop: Promise<unknown> | undefined, read: () => Promise<T>, worth: (r: T) => boolean): Promise<T> {
  return waitUntil(dir, read, (r) => watch === null || worth(r), { deadline: Date.now() + (watch ?? 0) * 1000, stop });
}
