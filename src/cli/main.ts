import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, type System } from './cli.js';

/**
 * The process entry: hands runCli this process's arguments, environment and streams, then
 * exits with its code once the output is flushed.
 *
 * A reader that stops early (`baton list | head -1`) closes the pipe: that ends the output, not
 * the command. A write into the closed pipe fails with EPIPE; the command still runs to its end
 * (a mutation is never cut short between its lock and its commit) and exits with its own code,
 * the rest of its output dropped. Output that never ends by itself (events --follow, watch) is a
 * read, and stops at once.
 */
let endWhenOutputCloses = false;
let exitCode = 0;
function onOutputError(e: NodeJS.ErrnoException): void {
  if (e.code !== 'EPIPE') throw e;
  if (endWhenOutputCloses) process.exit(exitCode);
}
process.stdout.on('error', onOutputError);
// stderr is set up when first written to: most commands never do, and making the stream costs
// about 1 ms. (The MCP server logs to process.stderr itself, and ignores its errors.)
let stderrUsed = false;
function stderr(): NodeJS.WriteStream {
  if (!stderrUsed) process.stderr.on('error', onOutputError);
  stderrUsed = true;
  return process.stderr;
}

/** SIGINT, SIGTERM, and on a terminal q or Ctrl-C typed in raw mode. */
function quit(keys: boolean): { promise: Promise<void>; done(): void } {
  let stop = () => undefined as void;
  const promise = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const raw = keys && process.stdin.isTTY;
  if (raw) {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', (d) => {
      const k = d.toString();
      if (k === 'q' || k === 'Q' || k === '\u0003') stop();
    });
  }
  return {
    promise,
    done: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (raw) {
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
    },
  };
}

const sys: System = {
  cwd: process.cwd(),
  env: process.env,
  // dist/baton.cjs → the package root, where templates/ lives.
  packageRoot: resolve(dirname(fileURLToPath(import.meta.url)), '..'),
  bin: resolve(process.argv[1]!),
  tty: Boolean(process.stdout.isTTY),
  columns: () => process.stdout.columns,
  rows: () => process.stdout.rows,
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void stderr().write(s),
  quit,
  streaming: () => {
    endWhenOutputCloses = true;
  },
};

void runCli(process.argv.slice(2), sys).then((code) => {
  // Exit once the output is flushed: a stray handle of a library (a file watcher closed while
  // it was still scanning) must never keep a finished command, and the agent waiting on it, alive.
  exitCode = code;
  process.exitCode = code;
  let pending = stderrUsed ? 2 : 1;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  if (stderrUsed) process.stderr.write('', done);
});
