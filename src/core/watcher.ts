// Imported with `await import('./watcher.js')`: chokidar loads only when something waits.
import { watch } from 'chokidar';

export function watchBoard(dir: string, poll: boolean) {
  return watch(dir, { depth: 0, ignoreInitial: true, usePolling: poll, interval: 100, atomic: false });
}
