// Imported with `await import('./watcher.js')`: chokidar loads only when something waits.
import { basename } from 'node:path';
import { watch } from 'chokidar';

/**
 * The board directory, without its dot entries: the lock, the transaction journal and temp
 * files come and go inside every write, and no waiter cares about them (a watcher that stats
 * an entry gone a moment later only wastes the wake-up).
 */
export function watchBoard(dir: string, poll: boolean) {
  const ignored = (path: string) => path !== dir && basename(path).startsWith('.');
  return watch(dir, { depth: 0, ignoreInitial: true, usePolling: poll, interval: 100, atomic: false, ignored });
}
