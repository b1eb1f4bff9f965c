import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, baseEnv, batonAsync, makeBoard, readJsonl, seededInstants, type TestBoard, boardState } from './helpers.js';

/** Every claim about concurrency and crash safety, proved with real processes. */

function checkLog(board: TestBoard, revision: number) {
  const events = readJsonl(join(board.dir, 'events.jsonl'));
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  expect(events.at(-1)?.revision ?? 0).toBe(revision);
  return events;
}

/**
 * A real process that takes a lock directory the way baton does (the directory with its owner
 * file: this pid and host) and holds it until it is killed; resolves once it holds it.
 */
async function holdLock(lockDir: string): Promise<ChildProcess> {
  const holder = spawn(
    process.execPath,
    [
      '-e',
      `const fs=require('fs');fs.mkdirSync(${JSON.stringify(lockDir)});` +
        `fs.writeFileSync(${JSON.stringify(join(lockDir, 'owner'))},JSON.stringify({pid:process.pid,host:require('os').hostname(),at:new Date().toISOString(),nonce:'x'}));` +
        `console.log('locked');setInterval(()=>{},1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((res) => holder.stdout!.once('data', () => res()));
  return holder;
}

describe('concurrent writers', () => {
  it('8 processes × (25 add + 25 edit) lose nothing and keep the log gapless', async () => {
    const board = makeBoard();
    const shared = Array.from({ length: 8 }, (_, i) => ({ id: `s${i}`, title: `shared ${i}` }));
    writeFileSync(join(board.root, 'plan.json'), JSON.stringify(shared));
    expect(board.run('import', 'plan.json').code).toBe(0);

    const worker = async (p: number) => {
      const results: { ok: boolean; out: string }[] = [];
      for (let i = 0; i < 25; i++) {
        const a = await batonAsync(['add', `w${p} task ${i}`, '--id', `w${p}-${i}`, '--json', '--lock-timeout', '60'], { cwd: board.root });
        results.push({ ok: a.code === 0 && a.json?.ok === true, out: a.stdout + a.stderr });
        const e = await batonAsync(['edit', `s${(p + i) % 8}`, '--add-label', `w${p}e${i}`, '--json', '--lock-timeout', '60'], { cwd: board.root });
        results.push({ ok: e.code === 0 && e.json?.ok === true, out: e.stdout + e.stderr });
      }
      return results;
    };
    const all = (await Promise.all(Array.from({ length: 8 }, (_, p) => worker(p)))).flat();
    expect(all.filter((r) => !r.ok).map((r) => r.out)).toEqual([]);

    const list = board.json('list');
    const ids = new Set(list.tasks.map((t: { id: string }) => t.id));
    for (let p = 0; p < 8; p++) for (let i = 0; i < 25; i++) expect(ids.has(`w${p}-${i}`)).toBe(true);
    const labels = new Map(list.tasks.map((t: { id: string; labels: string[] }) => [t.id, t.labels]));
    for (let p = 0; p < 8; p++) {
      for (let i = 0; i < 25; i++) expect(labels.get(`s${(p + i) % 8}`)).toContain(`w${p}e${i}`);
    }
    // 1 import + 400 mutations, each exactly one revision and one event.
    expect(list.revision).toBe(1 + all.length);
    expect(checkLog(board, list.revision)).toHaveLength(8 + all.length);
    const doctor = board.json('doctor');
    expect(doctor._code).toBe(0);
    expect(doctor.healthy).toBe(true);
  }, 300_000);
});

describe('the Markdown, rendered outside the board lock', () => {
  it('never goes back in revision under 8 racing writers, a render loop and a doctor --repair loop, and ends at the last commit', async () => {
    const board = makeBoard();
    const status = join(board.dir, 'STATUS.md');
    const revisionOf = (): number => {
      const m = /^Revision (\d+) /m.exec(readFileSync(status, 'utf8'));
      return m ? Number(m[1]) : -1;
    };
    let writing = true;
    const seen: number[] = [];
    // Watch the file while they write: every reading is at least the one before it.
    const watcher = (async () => {
      while (writing) {
        seen.push(revisionOf());
        await new Promise((r) => setImmediate(r));
      }
    })();
    const writers = Array.from({ length: 8 }, async (_, p) => {
      for (let i = 0; i < 12; i++) {
        const r = await batonAsync(['add', `w${p} ${i}`, '--json', '--lock-timeout', '60'], { cwd: board.root });
        expect(r.code, r.stdout).toBe(0);
        // A command returns once the files show its change (or a later one).
        expect(revisionOf()).toBeGreaterThanOrEqual(r.json.revision);
      }
    });
    // Renders that do not come from a commit take their turn under the same render lock.
    const others = ['render', 'doctor --repair'].map(async (cmd) => {
      let rounds = 0;
      // Rounds start with the writers and interleave with them; six of each are enough to race them.
      while ((writing && rounds < 6) || rounds < 2) {
        const r = await batonAsync([...cmd.split(' '), '--json', '--lock-timeout', '60'], { cwd: board.root });
        expect(r.code, r.stdout).toBe(0);
        if (cmd === 'render') expect(revisionOf()).toBeGreaterThanOrEqual(r.json.revision);
        rounds++;
      }
      return rounds;
    });
    await Promise.all(writers);
    writing = false;
    expect((await Promise.all(others)).every((n) => n >= 2)).toBe(true);
    await watcher;
    expect(seen.length).toBeGreaterThan(10);
    for (let i = 1; i < seen.length; i++) expect(seen[i], `reading ${i}`).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(revisionOf()).toBe(board.json('status').revision);
    expect(board.json('doctor').healthy).toBe(true);
  });
});

describe('the render lock', () => {
  it('a render lock left by a SIGKILLed holder on this host is passed over, and the write renders', async () => {
    const board = makeBoard();
    const lock = join(board.dir, '.baton.lock.render');
    // A real process takes the render lock the way baton does, says so, and is killed holding it.
    const holder = await holdLock(lock);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    const r = await batonAsync(['add', 'after the crash', '--json', '--lock-timeout', '5'], { cwd: board.root });
    expect([r.code, r.json.warnings]).toEqual([0, undefined]);
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).toContain(`Revision ${r.json.revision} `);
    expect(existsSync(lock)).toBe(false);
  });

  it('a live holder of the render lock delays the Markdown, never the commit: the write warns and render catches up', async () => {
    const board = makeBoard();
    const lock = join(board.dir, '.baton.lock.render');
    const holder = await holdLock(lock);
    try {
      const r = await batonAsync(['add', 'while the render lock is held', '--json', '--lock-timeout', '0.5'], { cwd: board.root });
      expect(r.code).toBe(0);
      expect(r.json.warnings.join(' ')).toContain('regenerating the Markdown failed');
      expect(board.json('show', r.json.task.id).task.title).toBe('while the render lock is held');
      expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).not.toContain(`Revision ${r.json.revision} `);
      // doctor names the holder.
      const doctor = board.json('doctor');
      expect(doctor.checks.find((c: { name: string }) => c.name === 'render-lock')).toMatchObject({ ok: false, level: 'warn' });
      expect(doctor.checks.find((c: { name: string }) => c.name === 'render-lock').message).toContain(`pid ${holder.pid}`);
      // A keyed write whose render could not run: its retry (replayed, nothing written) renders it.
      const keyed = await batonAsync(['add', 'keyed', '--idempotency-key', 'k1', '--json', '--lock-timeout', '0.5'], { cwd: board.root });
      expect([keyed.code, keyed.json.warnings.length]).toEqual([0, 1]);
      holder.kill('SIGKILL');
      await new Promise((res) => holder.once('exit', res));
      const again = await batonAsync(['add', 'keyed', '--idempotency-key', 'k1', '--json'], { cwd: board.root });
      expect([again.code, again.json.revision, again.json.replayed, again.json.warnings.length], JSON.stringify(again.json)).toEqual([0, keyed.json.revision, true, 1]);
      expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).toContain(`Revision ${keyed.json.revision} `);
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) {
        holder.kill('SIGKILL');
        await new Promise((r) => holder.once('exit', r));
      }
    }
    expect(board.json('render').revision).toBe(board.json('status').revision);
    expect(board.json('doctor').healthy).toBe(true);
  });
});

/** Starts a mutation and SIGKILLs it after `delayMs`; resolves with its exit code (0 if it finished first). */
function killAfter(args: string[], cwd: string, delayMs: number): Promise<{ code: number | null; killed: boolean; stdout: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, killed: signal === 'SIGKILL', stdout });
    });
  });
}

describe('crash safety', () => {
  it('SIGKILL at random moments never loses a committed mutation nor breaks the board', async () => {
    const board = makeBoard();
    expect(board.run('add', 'target', '--id', 'target').code).toBe(0);
    const committed: string[] = [];
    const labelled: string[] = [];
    let kills = 0;
    // Random delays over the whole life of a process (start-up, lock, write, projections).
    let rounds = 0;
    const instants = seededInstants();
    for (let i = 0; kills < 50 || i < 60; i++, rounds++) {
      if (i > 400) throw new Error(`only ${kills} kills landed in 400 rounds (BATON_TEST_SEED=${instants.seed})`);
      const delay = instants.below(260);
      const [a, e] = await Promise.all([
        killAfter(['add', `crash ${i}`, '--id', `c-${i}`, '--json'], board.root, delay),
        killAfter(['edit', 'target', '--add-label', `l${i % 40}-${i}`, '--rm-label', `l${i % 40}-${i - 40}`, '--json'], board.root, 260 - delay),
      ]);
      for (const [r, list, id] of [[a, committed, `c-${i}`], [e, labelled, `l${i % 40}-${i}`]] as const) {
        if (r.killed) kills++;
        else {
          expect(r.code, r.stdout).toBe(0);
          list.push(id);
        }
      }
      // The board always loads, whatever instant the writer died at.
      const status = await batonAsync(['status', '--json'], { cwd: board.root });
      expect(status.code, status.stdout).toBe(0);
    }
    expect(kills).toBeGreaterThanOrEqual(50);

    // The next mutation repairs what a killed writer left (log tail, temp files, projections).
    const after = board.run('add', 'after the storm', '--id', 'after');
    expect(after.code, after.stdout + after.stderr).toBe(0);
    const doctor = board.json('doctor');
    expect(doctor.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    const list = board.json('list');
    const ids = new Set(list.tasks.map((t: { id: string }) => t.id));
    for (const id of committed) expect(ids.has(id)).toBe(true);
    const target = list.tasks.find((t: { id: string }) => t.id === 'target');
    // Edit i removes the label of edit i - 40, so a committed label of the last 40 rounds can't
    // have been removed by anyone (a killed edit may or may not have committed its removal).
    const last = rounds - 1;
    for (const l of labelled) if (Number(l.split('-')[1]) > last - 40) expect(target.labels).toContain(l);
    checkLog(board, list.revision);
  }, 300_000);

  it('what a writer killed mid-transaction leaves is ignored by reads and undone by the next write', () => {
    const board = makeBoard();
    expect(board.run('add', 'one', '--id', 'one').code).toBe(0);
    const committed = readFileSync(join(board.dir, 'state.json'), 'utf8');
    // Exactly what a writer leaves when killed after appending its events and before its rename:
    // its journal, an event past state.seq, a torn half line, a temp file, projections of the old state.
    const ghost = { id: 'e-ghost', seq: 2, ts: new Date().toISOString(), revision: 2, type: 'task.created', actor: null, session: null, task: 'ghost', data: {}, notify: null };
    const journal = { revision_before: 1, revision_after: 2, base_seq: 1, log_size: statSync(join(board.dir, 'events.jsonl')).size, ids: ['e-ghost', 'e-torn'], pid: 99999, host: 'elsewhere' };
    writeFileSync(join(board.dir, '.baton.lock.journal'), JSON.stringify(journal));
    appendFileSync(join(board.dir, 'events.jsonl'), `${JSON.stringify(ghost)}\n{"id":"e-torn","seq":3,"ts`);
    writeFileSync(join(board.dir, '.state.json.tmp-99999-abc'), '{"half": ');

    const show = board.json('show', 'one');
    expect(show.history.map((e: { seq: number }) => e.seq)).toEqual([1]);
    const doctor = board.json('doctor');
    expect(doctor._code).toBe(0);
    const failing = doctor.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { name: string }) => c.name);
    expect(failing.sort()).toEqual(['log', 'temp-files']);
    expect(readFileSync(join(board.dir, 'state.json'), 'utf8')).toBe(committed);

    expect(board.run('add', 'two', '--id', 'two').code).toBe(0);
    const events = checkLog(board, 2);
    expect(events.map((e) => e.task)).toEqual(['one', 'two']);
    expect(existsSync(join(board.dir, '.state.json.tmp-99999-abc'))).toBe(false);
    expect(existsSync(join(board.dir, '.baton.lock.journal'))).toBe(false);
    expect(board.json('doctor').healthy).toBe(true);
  });

  it('a lock left by a SIGKILLed holder on this host is broken at once', async () => {
    const board = makeBoard();
    const lockDir = join(board.dir, '.baton.lock');
    // A real process takes the lock the way baton does, says so, and is killed holding it.
    const holder = await holdLock(lockDir);
    const busy = await batonAsync(['add', 'while held', '--lock-timeout', '0.3', '--json'], { cwd: board.root });
    expect(busy.code).toBe(5);
    expect(busy.json.error.code).toBe('BOARD_BUSY');
    const dead = new Promise((res) => holder.on('close', res));
    holder.kill('SIGKILL');
    await dead;
    const after = await batonAsync(['add', 'after the holder died', '--lock-timeout', '2', '--json'], { cwd: board.root });
    expect(after.code, after.stdout).toBe(0);
  });

  it('a lock from another machine blocks until its mtime is older than the stale window', () => {
    const board = makeBoard();
    const lockDir = join(board.dir, '.baton.lock');
    mkdirSync(lockDir);
    writeFileSync(join(lockDir, 'owner'), JSON.stringify({ pid: 1, host: `not-${hostname()}`, at: new Date().toISOString() }));
    const busy = board.json('add', 'x', '--lock-timeout', '0.5');
    expect(busy._code).toBe(5);
    expect(busy.error.holder.host).toBe(`not-${hostname()}`);
    expect(board.json('doctor').checks.find((c: { name: string }) => c.name === 'lock').ok).toBe(true);
    const old = new Date(Date.now() - 11_000);
    utimesSync(lockDir, old, old);
    const doctor = board.json('doctor');
    expect(doctor.checks.find((c: { name: string }) => c.name === 'lock').ok).toBe(false);
    expect(board.json('add', 'x', '--lock-timeout', '0.5')._code).toBe(0);
    expect(Object.values<any>(boardState(board.dir).tasks).map((t) => t.title)).toContain('x');
  });

  it('a lock directory without an owner is never a live writer\'s (a lock is put in place whole): it is taken at once, or after a few seconds when something is in it', () => {
    const board = makeBoard();
    const lockDir = join(board.dir, '.baton.lock');
    mkdirSync(lockDir);
    // Empty: the new lock is renamed over it.
    expect(board.json('add', 'over an empty one', '--lock-timeout', '0.5')._code).toBe(0);
    expect(existsSync(lockDir)).toBe(false);
    // Something in it but no owner (made by hand, or by an older baton that died): a few seconds.
    mkdirSync(lockDir);
    writeFileSync(join(lockDir, 'junk'), 'x');
    expect(board.json('add', 'fresh', '--lock-timeout', '0.5')._code).toBe(5);
    const old = new Date(Date.now() - 4_000);
    utimesSync(lockDir, old, old);
    expect(board.json('add', 'after', '--lock-timeout', '0.5')._code).toBe(0);
  });
});
