import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it, onTestFinished } from 'vitest';
import { baseEnv, baton, batonAsync, batonIn, BIN, hashTree, makeBoard, makeBoardIn, type Run, type TestBoard, type TestBoardIn, seededInstants, tempDir, boardState } from './helpers.js';

// Real faults, as a careless or unlucky user meets them: a lock holder stopped by SIGSTOP (on
// this machine, and on "another machine" made with a UTS namespace of its own), a disk that fills
// up (a tiny tmpfs), init pointed at a repository, a failure after the commit point, an
// unreadable line in the middle of the log. Those with a stopped, killed, remote, faked-clock or
// concurrent writer, or a tiny disk, run real processes; the others run baton in-process.

function setConfig(board: { dir: string }, key: string, value: string): void {
  const file = join(board.dir, 'config.yaml');
  const text = readFileSync(file, 'utf8');
  const re = new RegExp(`^${key}:.*$`, 'm');
  writeFileSync(file, re.test(text) ? text.replace(re, `${key}: ${value}`) : `${text}\n${key}: ${value}\n`);
}

function writePlan(root: string, n: number, prefix: string): string {
  const file = join(root, `${prefix}.json`);
  writeFileSync(file, JSON.stringify({ tasks: Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, title: `${prefix} task ${i}`, description: 'x'.repeat(200) })) }));
  return file;
}

interface Started {
  child: ChildProcess;
  done: Promise<Run>;
}

/** Starts a baton command; `prefix` runs it under another program (unshare, faketime). */
function start(args: string[], cwd: string, prefix: string[] = [], env: Record<string, string> = {}): Started {
  const argv = [...prefix, process.execPath, BIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<Run>((res) =>
    child.on('close', (code) => {
      let json: any = null;
      try {
        json = JSON.parse(out);
      } catch {
        json = null;
      }
      res({ code: code ?? -1, stdout: out, stderr: err, json });
    }),
  );
  return { child, done };
}

const ownerPid = (dir: string): number | null => {
  try {
    return JSON.parse(readFileSync(join(dir, '.baton.lock', 'owner'), 'utf8')).pid as number;
  } catch {
    return null;
  }
};
const journalPid = (dir: string): number | null => {
  try {
    return JSON.parse(readFileSync(join(dir, '.baton.lock.journal'), 'utf8')).pid as number;
  } catch {
    return null;
  }
};

/**
 * Stops the child with SIGSTOP at the first moment `holding` says it is where we want it (it
 * holds the lock; it has written its journal), polling the board's files as fast as we can.
 * Returns false when the child finished before that moment was seen.
 */
/** Whether a process is stopped (state T in /proc/PID/stat), or gone. */
function isStopped(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  return /^[TtZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
}

async function stopWhen(child: ChildProcess, done: Promise<Run>, holding: () => boolean): Promise<boolean> {
  let finished = false;
  void done.then(() => (finished = true));
  for (;;) {
    if (holding()) {
      child.kill('SIGSTOP');
      // kill() returns before the child has stopped: on another core it runs on until the kernel
      // stops it. Only once it is stopped does a second look say where it stopped.
      while (!isStopped(child.pid!)) await new Promise((r) => setImmediate(r));
      // Stopped while still there (it may have moved on between our look and the stop).
      if (holding()) return true;
      child.kill('SIGCONT');
      await done;
      return false;
    }
    if (finished) return false;
    await new Promise((r) => setImmediate(r));
  }
}

function tasksOf(board: { dir: string }): Set<string> {
  return new Set(Object.keys(boardState(board.dir).tasks));
}

function expectHealthy(board: TestBoard): void {
  const doctor = board.json('doctor');
  expect(doctor.healthy, JSON.stringify(doctor.checks.filter((c: { ok: boolean }) => !c.ok))).toBe(true);
}

async function expectHealthyIn(board: TestBoardIn): Promise<void> {
  const doctor = await board.json('doctor');
  expect(doctor.healthy, JSON.stringify(doctor.checks.filter((c: { ok: boolean }) => !c.ok))).toBe(true);
}

describe('a paused lock holder', () => {
  it('on this machine keeps its lock however long it is stopped; waiters say who holds it and for how long', async () => {
    let board: TestBoard;
    let importer: Started;
    for (let attempt = 0; ; attempt++) {
      expect(attempt, 'the importer was never caught holding the lock').toBeLessThan(5);
      board = makeBoard();
      setConfig(board, 'lock_stale_seconds', '2');
      importer = start(['import', writePlan(board.root, 20_000, 'big'), '--json'], board.root);
      const pid = importer.child.pid;
      if (await stopWhen(importer.child, importer.done, () => ownerPid(board.dir) === pid)) break;
    }
    // Longer than the stale window of a lock from another machine (2 s here): a live holder here
    // is never judged stale, so this writer waits it out and gives up, with nothing written.
    const waiter = await batonAsync(['add', 'waits', '--lock-timeout', '3', '--json'], { cwd: board.root });
    expect(waiter.code, waiter.stdout).toBe(5);
    expect(waiter.json.error.code).toBe('BOARD_BUSY');
    expect(waiter.json.error.holder.pid).toBe(importer.child.pid);
    expect(waiter.json.error.holder.held_ms).toBeGreaterThan(2_000);
    expect(waiter.json.error.message).toMatch(/holding it for \d+s/);
    importer.child.kill('SIGCONT');
    const imported = await importer.done;
    expect(imported.code, imported.stderr).toBe(0);
    expect(board.json('add', 'after', '--id', 'after')._code).toBe(0);
    const ids = tasksOf(board);
    expect(ids.size).toBe(20_001);
    expect(ids.has('waits')).toBe(false);
    expectHealthy(board);
  }, 120_000);

  it('a slow transaction on this machine, busy for longer than the stale window, keeps its lock; the waiters commit after it', async () => {
    // Big enough to hold the lock past the 2 s window on this machine: sized from how long an
    // import of 10,000 tasks holds it here and now (with a third to spare), doubled until it does.
    const probe = makeBoard();
    const timed = baton(['import', writePlan(probe.root, 10_000, 'probe'), '--json'], { cwd: probe.root, env: { BATON_TIMINGS: '1' } });
    expect(timed.code, timed.stderr).toBe(0);
    const perTask = lockedMs(timed.stderr) / 10_000;
    for (let n = Math.min(240_000, Math.max(20_000, Math.ceil((2_700 / perTask) / 10_000) * 10_000)); ; n *= 2) {
      expect(n, 'no import was slow enough').toBeLessThanOrEqual(240_000);
      if (await slowImport(n)) break;
    }
  }, 240_000);

  const lockedMs = (stderr: string): number => (JSON.parse(/baton-timing (\{.*\})/.exec(stderr)![1]!) as { locked_ms: number }).locked_ms;

  /** True when the import held the lock past the stale window (else the run proves nothing). */
  async function slowImport(n: number): Promise<boolean> {
    const board = makeBoard();
    setConfig(board, 'lock_stale_seconds', '2');
    const importer = start(['import', writePlan(board.root, n, 'slow'), '--json'], board.root, [], { BATON_TIMINGS: '1' });
    const pid = importer.child.pid;
    let finished = false;
    void importer.done.then(() => (finished = true));
    while (ownerPid(board.dir) !== pid && !finished) await new Promise((r) => setImmediate(r));
    const waiters = await Promise.all(Array.from({ length: 4 }, (_, i) => batonAsync(['add', `waiter ${i}`, '--id', `waiter-${i}`, '--lock-timeout', '60', '--json'], { cwd: board.root })));
    const imported = await importer.done;
    expect(imported.code, imported.stderr).toBe(0);
    for (const w of waiters) expect(w.code, w.stdout).toBe(0);
    expect(tasksOf(board).size).toBe(n + 4);
    expectHealthy(board);
    return lockedMs(imported.stderr) > 2_000;
  }

  it('on another machine loses its lock after the stale window and can then never commit: every exit-0 write is kept', async () => {
    for (const where of ['holding the lock', 'past its journal'] as const) {
      let board: TestBoard;
      let remote: Started;
      for (let attempt = 0; ; attempt++) {
        expect(attempt, `the remote importer was never caught ${where}`).toBeLessThan(8);
        board = makeBoard();
        setConfig(board, 'lock_stale_seconds', '2');
        // A UTS namespace with its own host name: to everyone else, a writer on another machine.
        remote = start(['import', writePlan(board.root, 15_000, 'remote'), '--json'], board.root, ['unshare', '--uts', 'sh', '-c', 'hostname baton-other-machine && exec "$0" "$@"']);
        const pid = remote.child.pid;
        const dir = board.dir;
        const at = where === 'holding the lock' ? () => ownerPid(dir) === pid : () => journalPid(dir) === pid && ownerPid(dir) === pid;
        if (await stopWhen(remote.child, remote.done, at)) break;
      }
      // Local writers wait out the stale window, break the lock, and commit.
      const local = await Promise.all(Array.from({ length: 4 }, (_, i) => batonAsync(['add', `local ${i}`, '--id', `local-${i}`, '--lock-timeout', '20', '--json'], { cwd: board.root })));
      for (const r of local) expect(r.code, r.stdout + r.stderr).toBe(0);
      remote.child.kill('SIGCONT');
      const late = await remote.done;
      const ids = tasksOf(board);
      for (let i = 0; i < 4; i++) expect(ids.has(`local-${i}`), `local-${i} lost (${where})`).toBe(true);
      expect(board.json('add', 'after', '--id', 'after')._code).toBe(0);
      expectHealthy(board);
      const events = readFileSync(join(board.dir, 'events.jsonl'), 'utf8');
      if (late.code === 0) {
        // Stopped past its commit point (only its clean-up was left): it committed, on top of nothing
        // it could lose, and the local writes came after it.
        expect(where).toBe('past its journal');
        expect(tasksOf(board).size).toBe(15_005);
      } else {
        // The resumed writer found its lock gone before its commit point: it wrote nothing.
        expect(late.code, late.stdout).toBe(5);
        expect(late.json.error.code).toBe('BOARD_BUSY');
        expect(late.json.error.lost_lock).toBe(true);
        expect([...tasksOf(board)].some((id) => id.startsWith('remote-'))).toBe(false);
        expect(events).not.toContain('"remote-0"');
      }
    }
  }, 180_000);
});

describe('a full disk', () => {
  /** A tmpfs of `kib` KiB (mounting needs root: CI runs as root, or has sudo), gone after the test. */
  function tinyDisk(kib: number): string {
    const dir = mkdtempSync(join(tmpdir(), 'baton-disk-'));
    const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
    const mount = (...args: string[]) => spawnSync(sudo[0] ?? args[0]!, sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), { encoding: 'utf8' });
    const r = mount('mount', '-t', 'tmpfs', '-o', `size=${kib}k,mode=0777`, 'tmpfs', dir);
    if (r.status !== 0) throw new Error(`could not mount a tmpfs for the full-disk test (needs root or sudo): ${r.stderr}`);
    onTestFinished(() => {
      mount('umount', '-l', dir);
      rmSync(dir, { recursive: true, force: true });
    });
    return dir;
  }

  /** Fills the disk, then frees `free` bytes: what is left for the next write. */
  function fillLeaving(dir: string, free: number): void {
    const filler = join(dir, 'filler');
    rmSync(filler, { force: true });
    const chunk = Buffer.alloc(4096, 1);
    try {
      for (;;) appendFileSync(filler, chunk);
    } catch {
      /* full */
    }
    const size = readFileSync(filler).length;
    rmSync(filler);
    if (size > free) writeFileSync(filler, Buffer.alloc(size - free, 1));
  }

  it('every exit-0 write is whole and kept, every refusal is DISK_FULL with nothing written, and writes work once space is back', () => {
    // Room for the board (its 64 task shards take a page each) and the fills below.
    const disk = tinyDisk(2048);
    const init = baton(['init', '--name', 'disk'], { cwd: disk });
    expect(init.code, init.stderr).toBe(0);
    const run = (...args: string[]) => baton([...args, '--json'], { cwd: disk });
    const committed: string[] = [];
    const refused: string[] = [];
    for (let i = 0; i < 24; i++) {
      fillLeaving(disk, (i % 12) * 4096);
      const id = `t-${i}`;
      const before = readFileSync(join(disk, 'project-plan', 'state.json'), 'utf8');
      const logBefore = readFileSync(join(disk, 'project-plan', 'events.jsonl'), 'utf8');
      const r = run('add', `task ${i}`, '--id', id, '--description', 'd'.repeat(3000));
      if (r.code === 0) committed.push(id);
      else {
        expect(r.json?.error?.code, r.stdout + r.stderr).toBe('DISK_FULL');
        expect(r.code).toBe(5);
        expect(r.json.error.message).toContain('nothing was committed');
        refused.push(id);
        // Nothing written: the state and the log are byte for byte what they were, no journal.
        expect(readFileSync(join(disk, 'project-plan', 'state.json'), 'utf8')).toBe(before);
        expect(readFileSync(join(disk, 'project-plan', 'events.jsonl'), 'utf8')).toBe(logBefore);
        expect(existsSync(join(disk, 'project-plan', '.baton.lock.journal'))).toBe(false);
      }
      // The board loads after every attempt, and the lock was let go.
      rmSync(join(disk, 'filler'), { force: true });
      const status = run('status');
      expect(status.code, status.stdout + status.stderr).toBe(0);
      expect(existsSync(join(disk, 'project-plan', '.baton.lock'))).toBe(false);
      const ids = new Set(Object.keys(boardState(join(disk, 'project-plan')).tasks));
      for (const c of committed) expect(ids.has(c), `${c} answered ok but is missing`).toBe(true);
      for (const r2 of refused) expect(ids.has(r2), `${r2} was refused but is there`).toBe(false);
    }
    expect(refused.length).toBeGreaterThan(0);
    expect(committed.length).toBeGreaterThan(0);
    // Space is back: writes succeed, nothing is left behind that doctor minds.
    expect(run('add', 'after', '--id', 'after').code).toBe(0);
    const doctor = run('doctor');
    expect(doctor.json.healthy, doctor.stdout).toBe(true);
    const leftovers = readdirSync(join(disk, 'project-plan')).filter((n) => n.includes('.tmp-'));
    expect(leftovers).toEqual([]);
  }, 120_000);
});

describe('an I/O error', () => {
  /**
   * The board on a FUSE file system (test/fixtures/faultfs.py, python3-fusepy; mounting needs root:
   * CI runs as root) whose writes fail with a real EIO from the kernel while a switch file names them.
   */
  function faultyDisk(): { mount: string; fail(match: string | null): void } {
    const root = tempDir('baton-eio-');
    const back = join(root, 'back');
    const mount = join(root, 'mnt');
    mkdirSync(back);
    mkdirSync(mount);
    const fs = spawn('/usr/bin/python3', [join(import.meta.dirname, 'fixtures', 'faultfs.py'), back, mount], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    fs.stderr!.on('data', (d) => (err += d));
    onTestFinished(() => {
      spawnSync('umount', ['-l', mount]);
      fs.kill('SIGKILL');
    });
    // Mounted when the kernel lists it (the daemon has answered the kernel's first request).
    for (;;) {
      if (readFileSync('/proc/mounts', 'utf8').includes(` ${mount} fuse`)) break;
      if (fs.exitCode !== null) throw new Error(`the FUSE file system did not mount (needs root and python3-fusepy): ${err}`);
      spawnSync('true');
    }
    const switchFile = join(root, 'faultfs.fail');
    return { mount, fail: (match) => (match === null ? rmSync(switchFile, { force: true }) : writeFileSync(switchFile, match)) };
  }

  it('EIO at any write of a transaction is IO_ERROR (exit 5) saying nothing was committed, with nothing written; once the storage works, so does baton', () => {
    const disk = faultyDisk();
    const run = (...args: string[]) => baton([...args, '--json'], { cwd: disk.mount });
    expect(run('init', '--name', 'eio').code).toBe(0);
    expect(run('add', 'one', '--id', 'one').code).toBe(0);
    const dir = join(disk.mount, 'project-plan');
    const files = () => [readFileSync(join(dir, 'state.json'), 'utf8'), readFileSync(join(dir, 'events.jsonl'), 'utf8')];
    // The lock's owner file, the journal, the log's append, the new state.json, everything.
    for (const match of ['owner', 'journal', 'events.jsonl', 'state.json', '']) {
      const before = files();
      disk.fail(match);
      const r = run('add', `two (${match || 'all'})`, '--id', 'two');
      disk.fail(null);
      expect([r.code, r.json?.error?.code], `${match}: ${r.stdout}${r.stderr}`).toEqual([5, 'IO_ERROR']);
      expect(r.json.error.message).toContain('nothing was committed');
      expect(r.json.error.message).toContain('EIO');
      expect(r.json.error.hint).toContain('baton doctor');
      expect(files(), match).toEqual(before);
      expect(existsSync(join(dir, '.baton.lock.journal')), match).toBe(false);
    }
    const after = run('add', 'two', '--id', 'two');
    expect(after.code, after.stdout).toBe(0);
    expect(Object.keys(boardState(dir).tasks).sort()).toEqual(['one', 'two']);
    const doctor = run('doctor');
    expect(doctor.json.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
  }, 60_000);
});

describe('init', () => {
  it('refuses to write over a repository (--dir .), writing nothing', async () => {
    const repo = tempDir();
    writeFileSync(join(repo, 'AGENTS.md'), '# our agents\n');
    writeFileSync(join(repo, '.gitignore'), 'node_modules/\n');
    mkdirSync(join(repo, 'src'));
    const before = hashTree(repo);
    const r = await batonIn(['init', '--dir', '.', '--json'], { cwd: repo });
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('INVALID_INPUT');
    expect(r.json.error.message).toMatch(/not empty/);
    expect(hashTree(repo)).toEqual(before);
    // With a board at ./project-plan already, neither a second init nor one over the repo writes.
    expect((await batonIn(['init'], { cwd: repo })).code).toBe(0);
    const withBoard = hashTree(repo);
    expect((await batonIn(['init', '--json'], { cwd: repo })).code).toBe(2);
    expect((await batonIn(['init', '--dir', '.', '--json'], { cwd: repo })).code).toBe(2);
    expect(hashTree(repo)).toEqual(withBoard);
  });

  it('run eight times at once makes one board: one succeeds, the others refuse and write nothing', async () => {
    const root = tempDir();
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => batonAsync(['init', '--name', `board-${i}`, '--json'], { cwd: root })));
    const won = runs.filter((r) => r.code === 0);
    expect(won).toHaveLength(1);
    for (const r of runs.filter((x) => x.code !== 0)) {
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.json.error.code).toBe('INVALID_INPUT');
    }
    const name = won[0]!.json.name as string;
    expect(boardState(join(root, 'project-plan')).board.name).toBe(name);
    expect(readFileSync(join(root, 'project-plan', 'config.yaml'), 'utf8')).toContain(`name: "${name}"`);
    expect(existsSync(join(root, 'project-plan', '.baton.lock'))).toBe(false);
    expect(baton(['doctor', '--json'], { cwd: root }).json.healthy).toBe(true);
  });

  it('run eight times at once into directories that do not exist yet: one board, and no init removes what another made', async () => {
    const root = tempDir();
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => batonAsync(['init', '--dir', 'a/b/project-plan', '--name', `nested-${i}`, '--json'], { cwd: root })));
    expect(runs.filter((r) => r.code === 0)).toHaveLength(1);
    for (const r of runs.filter((x) => x.code !== 0)) expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(existsSync(join(root, 'a', 'b', 'project-plan', 'state.json'))).toBe(true);
    expect(baton(['doctor', '--json', '--dir', 'a/b/project-plan'], { cwd: root }).json.healthy).toBe(true);
  });

  it('on a file or where nothing can be made, refuses with a one-line error', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'plain'), 'x');
    const onFile = await batonIn(['init', '--dir', 'plain', '--json'], { cwd: root });
    expect(onFile.code).toBe(2);
    expect(onFile.json.error.message).toMatch(/is a file/);
    const proc = await batonIn(['init', '--dir', '/proc/self/baton-board', '--json'], { cwd: root });
    expect([2, 4]).toContain(proc.code);
    expect(proc.json.error.code).not.toBe('INTERNAL');
    const procDir = await batonIn(['init', '--dir', '/proc/self', '--json'], { cwd: root });
    expect(procDir.code).toBe(2);
  });
});

describe('after the commit point', () => {
  it('a failure to regenerate the Markdown is a warning on a success, and doctor says how to fix it', async () => {
    const board = await makeBoardIn();
    // STATUS.md cannot be replaced: a directory stands where the file goes.
    rmSync(join(board.dir, 'STATUS.md'));
    mkdirSync(join(board.dir, 'STATUS.md'));
    writeFileSync(join(board.dir, 'STATUS.md', 'keep'), 'x');
    const r = await board.json('add', 'committed anyway', '--id', 'c1');
    expect(r._code).toBe(0);
    expect(r.task.id).toBe('c1');
    expect(r.warnings.join(' ')).toMatch(/regenerating the Markdown failed.*the change is committed/);
    const human = await board.run('add', 'second', '--id', 'c2');
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/^warning: regenerating the Markdown failed/m);
    expect(tasksOf(board)).toEqual(new Set(['c1', 'c2']));
    const doctor = await board.json('doctor');
    const projections = doctor.checks.find((c: { name: string }) => c.name === 'projections');
    expect(projections.ok).toBe(false);
    expect(projections.fix).toMatch(/baton render|doctor --repair/);
    rmSync(join(board.dir, 'STATUS.md'), { recursive: true });
    expect((await board.run('render')).code).toBe(0);
    await expectHealthyIn(board);
  });
});

describe('an unreadable line in the middle of the log', () => {
  it('stops writes like reads (exit 7, file and line); doctor --repair quarantines it and reads work again', async () => {
    const board = await makeBoardIn();
    for (let i = 0; i < 5; i++) expect((await board.run('add', `t${i}`, '--id', `t${i}`)).code).toBe(0);
    const log = join(board.dir, 'events.jsonl');
    const lines = readFileSync(log, 'utf8').split('\n');
    const bad = '{"seq":3,"id":"e-broken", this is not json';
    lines[2] = bad;
    writeFileSync(log, lines.join('\n'));
    const before = hashTree(board.dir);
    for (const args of [['add', 'refused'], ['events', 'prune', '--max-rows', '1'], ['events'], ['show', 't1']]) {
      const r = await board.json(...args);
      expect(r._code, args.join(' ')).toBe(7);
      expect(r.error.code).toBe('BOARD_CORRUPT');
      expect(r.error.message).toContain('events.jsonl:3');
      expect(r.error.hint).toMatch(/doctor --repair/);
    }
    expect(hashTree(board.dir)).toEqual(before);
    const doctor = await board.json('doctor');
    expect(doctor.healthy).toBe(false);
    const repaired = await board.json('doctor', '--repair');
    expect(repaired._code).toBe(0);
    const qdir = join(board.dir, 'quarantine');
    const kept = readdirSync(qdir).flatMap((f) => readFileSync(join(qdir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
    expect(kept).toEqual([{ file: 'events.jsonl', line: 3, text: bad }]);
    expect((await board.json('events'))._code).toBe(0);
    expect((await board.json('show', 't1'))._code).toBe(0);
    expect((await board.run('add', 'after', '--id', 'after')).code).toBe(0);
    await expectHealthyIn(board);
    expect(tasksOf(board)).toEqual(new Set(['t0', 't1', 't2', 't3', 't4', 'after']));
  });

  it('whatever the line (JSON null, a conflict marker, cut-off JSON) every reader says BOARD_CORRUPT with file and line, the merge driver too', () => {
    const board = makeBoard();
    for (let i = 0; i < 4; i++) expect(board.run('add', `t${i}`, '--id', `t${i}`).code).toBe(0);
    const joined = baton(['join', '--name', 'ada', '--role', 'worker', '--json'], { cwd: board.root });
    const env = { BATON_SESSION: joined.json.session.id, BATON_TOKEN: joined.json.token };
    const log = join(board.dir, 'events.jsonl');
    const good = readFileSync(log, 'utf8').split('\n');
    for (const bad of ['null', '<<<<<<< HEAD', '{"seq":2,"id":"e-cut","type":"task.crea']) {
      writeFileSync(log, good.map((l, i) => (i === 1 ? bad : l)).join('\n'));
      const readers: Run[] = [
        baton(['events', '--json'], { cwd: board.root }),
        baton(['show', 't0', '--json'], { cwd: board.root }),
        baton(['inbox', '--all', '--json'], { cwd: board.root, env }),
        baton(['render', '--json'], { cwd: board.root }),
      ];
      for (const r of readers) {
        expect([r.code, r.json?.error?.code], `${bad}: ${r.stdout}${r.stderr}`).toEqual([7, 'BOARD_CORRUPT']);
        expect(r.json.error.message).toContain('events.jsonl:2: a line of the event log that is not an event');
        expect(r.json.error).toMatchObject({ line: 2, file: log });
        expect(r.json.error.hint).toMatch(/doctor --repair/);
      }
      // The merge driver (git runs it with the three sides in temporary files) names the side.
      const sides = tempDir();
      writeFileSync(join(sides, 'base'), good.slice(0, 1).join('\n'));
      writeFileSync(join(sides, 'theirs'), good.slice(0, 1).join('\n'));
      writeFileSync(join(sides, 'ours'), `${good[0]}\n${bad}\n${good[2]}\n`);
      const merge = baton(['merge-driver', 'base', 'ours', 'theirs', 'project-plan/events.jsonl', '--json'], { cwd: sides });
      if (bad.startsWith('<<<<<<<')) {
        // Markers are the one thing a merge reads past: both sides' events are kept.
        expect(merge.code, merge.stdout).toBe(0);
        continue;
      }
      expect([merge.code, merge.json?.error?.code], merge.stdout + merge.stderr).toEqual([7, 'BOARD_CORRUPT']);
      expect(merge.json.error).toMatchObject({ file: 'project-plan/events.jsonl (ours)', line: 2 });
    }
  });
});

describe('a symlinked log', () => {
  it('is refused, and the file it points to outside the board is left alone', async () => {
    const board = await makeBoardIn();
    expect((await board.run('add', 'one', '--id', 'one')).code).toBe(0);
    const outside = join(tempDir(), 'elsewhere.jsonl');
    writeFileSync(outside, readFileSync(join(board.dir, 'events.jsonl')));
    rmSync(join(board.dir, 'events.jsonl'));
    symlinkSync(outside, join(board.dir, 'events.jsonl'));
    const before = readFileSync(outside, 'utf8');
    const r = await board.json('add', 'two', '--id', 'two');
    expect(r._code).toBe(7);
    expect(r.error.message).toMatch(/symbolic link/);
    expect(readFileSync(outside, 'utf8')).toBe(before);
    expect(tasksOf(board)).toEqual(new Set(['one']));
  });
});

describe('retries after a lost answer', () => {
  it('an idempotency key returns the first answer and never changes the board twice', async () => {
    const board = await makeBoardIn();
    const first = await board.json('add', 'only once', '--idempotency-key', 'add-1');
    expect(first._code).toBe(0);
    const again = await board.json('add', 'only once', '--idempotency-key', 'add-1');
    expect(again._code).toBe(0);
    expect(again.replayed).toBe(true);
    expect(again.task.id).toBe(first.task.id);
    expect(again.revision).toBe(first.revision);
    expect(tasksOf(board).size).toBe(1);
    // The same key for another command is a mistake, said as such.
    const other = await board.json('cancel', first.task.id, '--idempotency-key', 'add-1');
    expect(other._code).toBe(2);
    expect(other.error.message).toMatch(/already used by `add`/);
    // A claim replayed hands back the same lease token (it is shown only once otherwise).
    const joined = await board.json('join', '--name', 'w', '--role', 'worker');
    const env = { BATON_SESSION: joined.session.id, BATON_TOKEN: joined.token };
    const claim1 = await batonIn(['claim-next', '--idempotency-key', 'claim-1', '--json'], { cwd: board.root, env });
    const claim2 = await batonIn(['claim-next', '--idempotency-key', 'claim-1', '--json'], { cwd: board.root, env });
    expect(claim1.code, claim1.stdout).toBe(0);
    expect(claim2.json.replayed).toBe(true);
    expect(claim2.json.lease_token).toBe(claim1.json.lease_token);
    expect((await batonIn(['send', '--to', 'all', 'hello', '--idempotency-key', 'msg-1', '--json'], { cwd: board.root, env })).code).toBe(0);
    expect((await batonIn(['send', '--to', 'all', 'hello', '--idempotency-key', 'msg-1', '--json'], { cwd: board.root, env })).json.replayed).toBe(true);
    const sent = readFileSync(join(board.dir, 'events.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"message.sent"'));
    expect(sent).toHaveLength(1);
    expect((await board.json('add', 'x', '--idempotency-key', 'bad key!'))._code).toBe(2);
    // A plan's key names its content: the same file name with other content is another call.
    const plan = join(board.root, 'plan.yaml');
    writeFileSync(plan, 'tasks:\n  - title: planned one\n');
    expect((await board.json('import', plan, '--idempotency-key', 'plan-1'))._code).toBe(0);
    expect((await board.json('import', plan, '--idempotency-key', 'plan-1')).replayed).toBe(true);
    writeFileSync(plan, 'tasks:\n  - title: planned two\n');
    expect((await board.json('import', plan, '--idempotency-key', 'plan-1'))._code).toBe(2);
    // A key names one call by one caller: other arguments, or another session, are refused.
    const otherArgs = await board.json('add', 'not the same', '--idempotency-key', 'add-1');
    expect(otherArgs._code).toBe(2);
    expect(otherArgs.error.message).toMatch(/other arguments/);
    const second = await board.json('join', '--name', 'w2', '--role', 'worker');
    const env2 = { BATON_SESSION: second.session.id, BATON_TOKEN: second.token };
    const stolen = await batonIn(['claim-next', '--idempotency-key', 'claim-1', '--json'], { cwd: board.root, env: env2 });
    expect(stolen.code).toBe(2);
    expect(stolen.json.error.message).toMatch(/another session/);
    expect(stolen.stdout).not.toContain(claim1.json.lease_token);
  });

  it('a keyed writer killed at any instant is done exactly once by its retry', async () => {
    const board = makeBoard();
    // The instants are drawn from the whole life of such a write on this machine now (with half as
    // much again for a slower run), timed once: a fixed window would kill fewer as baton gets faster.
    const started = Date.now();
    expect(baton(['add', 'timed', '--idempotency-key', 'k-timed', '--json'], { cwd: board.root }).code).toBe(0);
    const life = Math.max(20, Date.now() - started) * 1.5;
    let kills = 0;
    const instants = seededInstants();
    for (let i = 0; i < 40; i++) {
      const key = `k-${i}`;
      const s = start(['add', `keyed ${i}`, '--idempotency-key', key, '--json'], board.root);
      const timer = setTimeout(() => s.child.kill('SIGKILL'), instants.below(life));
      const r = await s.done;
      clearTimeout(timer);
      if (r.code !== 0) kills++;
      const retry = board.json('add', `keyed ${i}`, '--idempotency-key', key);
      expect(retry._code, JSON.stringify(retry)).toBe(0);
      const titles = Object.values(boardState(board.dir).tasks).filter((t: any) => t.title === `keyed ${i}`);
      expect(titles, `round ${i} (BATON_TEST_SEED=${instants.seed})`).toHaveLength(1);
    }
    expect(kills).toBeGreaterThan(5);
    expectHealthy(board);
  }, 120_000);
});

describe('clocks', () => {
  /** Runs baton with this process's clock 20 minutes ahead (libfaketime); the file system keeps the true time. */
  const ahead = (board: TestBoard, args: string[], env: Record<string, string> = {}): Run => {
    const r = spawnSync('faketime', ['-f', '+20m', process.execPath, BIN, ...args, '--json'], {
      cwd: board.root,
      env: { ...baseEnv(), ...env, NO_FAKE_STAT: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
      encoding: 'utf8',
    });
    if (r.error) throw new Error(`faketime did not run (is it installed?): ${r.error.message}`);
    let json: any = null;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = null;
    }
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  };

  it('a machine 20 minutes ahead takes back no live lease, says its clock is off, and the others see its future times', () => {
    const board = makeBoard();
    expect(board.run('add', 'held', '--id', 'held').code).toBe(0);
    const joined = board.json('join', '--name', 'w', '--role', 'worker');
    const env = { BATON_SESSION: joined.session.id, BATON_TOKEN: joined.token };
    expect(baton(['claim', 'held', '--json'], { cwd: board.root, env }).code).toBe(0);

    const reap = ahead(board, ['reap']);
    expect(reap.code, reap.stdout + reap.stderr).toBe(0);
    expect(reap.json.expired_leases).toEqual([]);
    expect(reap.json.ended_sessions).toEqual([]);
    expect(reap.json.warnings.join(' ')).toMatch(/this machine's clock is 20 min ahead of the board's storage/);
    const held = board.json('show', 'held');
    expect(held.task.status).toBe('in_progress');
    expect(held.task.assignee).toBe(joined.agent.id);

    const future = ahead(board, ['add', 'from the future', '--id', 'future']);
    expect(future.code).toBe(0);
    expect(future.json.warnings.join(' ')).toMatch(/clock is 20 min ahead/);

    // Machines with a true clock see the future times: doctor names them, a writer warns.
    const clock = board.json('doctor').checks.find((c: { name: string }) => c.name === 'clock');
    expect(clock.ok).toBe(false);
    expect(clock.message).toMatch(/in the future, up to 20 min ahead/);
    const now = board.json('add', 'now', '--id', 'now');
    expect(now._code).toBe(0);
    expect(now.warnings.join(' ')).toMatch(/newest event .* is 20 min ahead of this machine's clock/);
  });

  it('a lease is taken back only once its TTL and the clock-skew allowance have both passed', async () => {
    const board = await makeBoardIn();
    setConfig(board, 'lease_ttl_seconds', '1');
    setConfig(board, 'clock_skew_seconds', '2');
    expect((await board.run('add', 'held', '--id', 'held')).code).toBe(0);
    const joined = await board.json('join', '--name', 'w', '--role', 'worker');
    const env = { BATON_SESSION: joined.session.id, BATON_TOKEN: joined.token };
    const claim = await batonIn(['claim', 'held', '--json'], { cwd: board.root, env });
    expect(claim.code).toBe(0);
    const expires = Date.parse(claim.json.lease.expires_at);
    // Past the TTL, inside the allowance: still the holder's.
    await new Promise((r) => setTimeout(r, Math.max(0, expires + 300 - Date.now())));
    expect((await board.json('reap')).expired_leases).toEqual([]);
    // Past both.
    await new Promise((r) => setTimeout(r, Math.max(0, expires + 2_300 - Date.now())));
    expect((await board.json('reap')).expired_leases).toEqual(['held']);
  });
});

describe('lock directories and result temp files left behind', () => {
  it('a lock renamed aside but never removed (board and render lock), an old staging directory and a result temp file: doctor names them, the next write removes them, and doctor --repair does too', async () => {
    const board = await makeBoardIn();
    expect((await board.run('add', 'one', '--id', 'one')).code).toBe(0);
    const gonePid = spawnSync('true').pid!;
    // What a process killed between renaming its lock aside and removing it leaves (release, or
    // breaking a dead holder's lock), with the fence and owner inside; a writer killed after
    // making its staging directory; a `done --result` killed while storing the result.
    const leave = () => {
      for (const name of ['.baton.lock.dead-0badc0de', '.baton.lock.render.dead-5eed5eed']) {
        mkdirSync(join(board.dir, name, 'fence-0badc0de'), { recursive: true });
        writeFileSync(join(board.dir, name, 'owner'), JSON.stringify({ pid: gonePid, host: 'here', nonce: '0badc0de', at: new Date().toISOString() }));
      }
      const staging = join(board.dir, '.baton.lock.new-feedf00d');
      mkdirSync(staging, { recursive: true });
      const old = new Date(Date.now() - 120_000);
      utimesSync(staging, old, old);
      mkdirSync(join(board.dir, 'results'), { recursive: true });
      writeFileSync(join(board.dir, 'results', `.0123456789abcdef01234567.txt.tmp-${gonePid}-abcdef`), 'half a result');
    };
    const leftovers = () => readdirSync(board.dir).filter((n) => /\.(dead|new)-/.test(n)).concat(readdirSync(join(board.dir, 'results')).filter((n) => n.includes('.tmp-')));

    leave();
    const doctor = await board.json('doctor');
    const byName = Object.fromEntries(doctor.checks.map((c: { name: string }) => [c.name, c]));
    expect(byName['lock-leftovers']).toMatchObject({ ok: false, level: 'warn' });
    expect(byName['lock-leftovers'].message).toContain('.baton.lock.dead-0badc0de');
    expect(byName['lock-leftovers'].message).toContain('.baton.lock.render.dead-5eed5eed');
    expect(byName['lock-leftovers'].message).toContain('.baton.lock.new-feedf00d');
    expect(byName['temp-files'].message).toContain('results/.0123456789abcdef01234567.txt.tmp-');
    expect((await board.run('add', 'two', '--id', 'two')).code).toBe(0);
    expect(leftovers()).toEqual([]);
    await expectHealthyIn(board);

    leave();
    const repair = await board.json('doctor', '--repair');
    expect(repair._code).toBe(0);
    expect(leftovers()).toEqual([]);
    await expectHealthyIn(board);
  });
});

describe('journals left behind', () => {
  const stamp = (path: string) => {
    const st = statSync(path);
    return { size: st.size, mtime: st.mtimeMs, ino: st.ino };
  };
  const journal = (board: { dir: string }, j: Record<string, unknown>) =>
    writeFileSync(join(board.dir, '.baton.lock.journal'), JSON.stringify({ key: null, nonce: 'gone', pid: 1, host: 'baton-other-machine', ...j }));

  it("a writer whose lock was broken and which appends late: its events are void, never read, and taken out by the next write", async () => {
    const board = await makeBoardIn();
    expect((await board.run('add', 'one', '--id', 'one')).code).toBe(0);
    const log = join(board.dir, 'events.jsonl');
    // What a writer on another machine leaves when it is stopped after its journal and its lock
    // is broken: the next holder finds the journal, proves nothing committed, and voids its ids.
    journal(board, { revision_before: 1, revision_after: 2, base_seq: 1, log_size: statSync(log).size, ids: ['e-latewriter'], base: stamp(join(board.dir, 'state.json')) });
    expect((await board.run('add', 'two', '--id', 'two')).code).toBe(0);
    expect(existsSync(join(board.dir, '.baton.lock.journal'))).toBe(false);
    // The stopped writer resumes and appends (its commit then fails at its fence).
    const ghost = { id: 'e-latewriter', seq: 2, ts: new Date().toISOString(), revision: 2, type: 'task.created', actor: null, session: null, task: 'ghost', data: { title: 'ghost' }, notify: null };
    appendFileSync(log, `${JSON.stringify(ghost)}\n`);
    expect((await board.json('events')).events.map((e: { id: string }) => e.id)).not.toContain('e-latewriter');
    expect((await board.json('show', 'ghost'))._code).toBe(4);
    expect((await board.run('add', 'three', '--id', 'three')).code).toBe(0);
    expect(readFileSync(log, 'utf8')).not.toContain('"id":"e-latewriter"');
    const reconciled = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'board.reconciled');
    expect(reconciled.data.void_dropped).toBe(1);
    expect(tasksOf(board)).toEqual(new Set(['one', 'two', 'three']));
    await expectHealthyIn(board);
  });

  it('the journal of a transaction that committed is never undone, even after git changed the state', async () => {
    const board = await makeBoardIn();
    const first = await board.json('add', 'kept', '--id', 'kept', '--idempotency-key', 'k-kept');
    expect(first._code).toBe(0);
    const log = join(board.dir, 'events.jsonl');
    const eventId = JSON.parse(readFileSync(log, 'utf8').trim()).id as string;
    // Its writer died after the rename, before removing its journal and writing its mark; then a
    // git merge moved the revision on.
    journal(board, { revision_before: 0, revision_after: 1, base_seq: 0, log_size: 0, ids: [eventId], key: 'k-kept', base: { size: 1, mtime: 1, ino: 1 } });
    rmSync(join(board.dir, '.baton.lock.mark'));
    const state = join(board.dir, 'state.json');
    writeFileSync(state, readFileSync(state, 'utf8').replace('"revision": 1,', '"revision": 7,'));
    expect((await board.run('add', 'next', '--id', 'next')).code).toBe(0);
    expect(readFileSync(log, 'utf8')).toContain(eventId);
    expect(existsSync(join(board.dir, '.baton.lock.void')) ? readFileSync(join(board.dir, '.baton.lock.void'), 'utf8') : '').not.toContain(eventId);
    const retry = await board.json('add', 'kept', '--id', 'kept', '--idempotency-key', 'k-kept');
    expect(retry._code).toBe(0);
    expect(retry.replayed).toBe(true);
    expect(tasksOf(board)).toEqual(new Set(['kept', 'next']));
    await expectHealthyIn(board);
  });

  it('a transaction killed before its commit is undone even when state.json was put back as a copy, and its key does not replay', async () => {
    const board = await makeBoardIn();
    expect((await board.run('add', 'one', '--id', 'one')).code).toBe(0);
    const log = join(board.dir, 'events.jsonl');
    const state = join(board.dir, 'state.json');
    // What `add never --idempotency-key k-never` leaves when killed just before its rename: its
    // journal, its key record, its appended event.
    journal(board, { revision_before: 1, revision_after: 2, base_seq: 1, read_seq: 1, log_size: statSync(log).size, ids: ['e-nevercommit'], key: 'k-never', base: stamp(state) });
    const keys = join(board.dir, '.baton.lock.keys');
    mkdirSync(keys, { recursive: true });
    const keyFile = join(keys, `${createHash('sha256').update('k-never').digest('hex').slice(0, 40)}.json`);
    writeFileSync(keyFile, JSON.stringify({ key: 'k-never', command: 'add', call: 'x', session: null, revision: 2, at: new Date().toISOString(), value: { task: { id: 'never' } } }));
    appendFileSync(log, `${JSON.stringify({ id: 'e-nevercommit', seq: 2, ts: new Date().toISOString(), revision: 2, type: 'task.created', actor: null, session: null, task: 'never', data: { title: 'never' }, notify: null })}\n`);
    // A sync tool or a restore puts state.json back as an identical copy (a new file).
    const copy = `${state}.copy`;
    writeFileSync(copy, readFileSync(state));
    renameSync(copy, state);
    expect((await board.run('add', 'later', '--id', 'later')).code).toBe(0);
    expect(readFileSync(log, 'utf8')).not.toContain('"id":"e-nevercommit"');
    expect(existsSync(keyFile)).toBe(false);
    expect(tasksOf(board)).toEqual(new Set(['one', 'later']));
    const retry = await board.json('add', 'never', '--id', 'never', '--idempotency-key', 'k-never');
    expect(retry._code).toBe(0);
    expect(retry.replayed).toBeUndefined();
    expect(tasksOf(board)).toEqual(new Set(['one', 'later', 'never']));
    await expectHealthyIn(board);
  });

  it('a damaged last line of the log is set aside in quarantine, never dropped', async () => {
    const board = await makeBoardIn();
    for (let i = 0; i < 3; i++) expect((await board.run('add', `t${i}`, '--id', `t${i}`)).code).toBe(0);
    const log = join(board.dir, 'events.jsonl');
    const text = readFileSync(log, 'utf8');
    const cut = text.slice(0, -40);
    writeFileSync(log, cut);
    expect((await board.run('add', 'after', '--id', 'after')).code).toBe(0);
    const qdir = join(board.dir, 'quarantine');
    const kept = readdirSync(qdir).flatMap((f) => readFileSync(join(qdir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
    expect(kept).toEqual([{ file: 'events.jsonl', line: 3, text: cut.split('\n').at(-1) }]);
    expect(tasksOf(board)).toEqual(new Set(['t0', 't1', 't2', 'after']));
    await expectHealthyIn(board);
  });
});
