import { statSync } from 'node:fs';
import { join } from 'node:path';

/** Identity of state.json's current version: every commit renames a new file into place. */
export function stateStamp(dir: string): string {
  try {
    const st = statSync(join(dir, 'state.json'));
    return `${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return 'missing';
  }
}

/**
 * Waits until state.json changes from `stamp` or the deadline passes; true when it changed.
 * File watching (chokidar: inotify and friends, or polling where the file system has no
 * events, e.g. BATON_WATCH_POLL=1 on network mounts), never a busy loop. The stamp is checked
 * again once the watcher is ready, so a commit that lands while it starts is not missed.
 */
export async function waitForChange(dir: string, stamp: string, deadlineMs: number): Promise<boolean> {
  if (stateStamp(dir) !== stamp) return true;
  const remaining = deadlineMs - Date.now();
  if (remaining <= 0) return false;
  const { watchBoard } = await import('./watcher.js');
  const watcher = watchBoard(dir, process.env.BATON_WATCH_POLL === '1');
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), remaining);
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
    await watcher.close();
  }
}
