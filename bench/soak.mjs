#!/usr/bin/env node
// npm run soak: three clones of one repository (a bare remote between them), one agent on each,
// looping claim-next --sync / work (sometimes a code commit, a message, a new task) / done /
// sync with random waits, for a fixed time. Then every clone syncs until they agree, and the
// run checks what the git work promises: identical boards, doctor clean on each, no task won by
// two agents, every event and task ever committed on any ref still on the board, seq 1..n.
//
//   node bench/soak.mjs [--seconds 300] [--tasks 400] [--json]
//   node bench/soak.mjs --until-done [--tasks 400] [--stall 150] [--json]
// --until-done bounds the run by work, not time (the test's form: a loaded machine makes it slower,
// never wrong): the agents loop until every task, follow-ups included, is done, and the run also
// checks that each was done exactly once, by the one agent whose claim won it. It gives up (and
// fails) only after --stall turns of the agents' loops in a row with no task done, a count that
// load does not change.
// Exit 0 when every check holds. With --json the figures are one JSON document on stdout.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boardBlobs, boardOnDisk } from './board-blobs.mjs';

const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'baton.cjs');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SECONDS = Number(opt('seconds', '300'));
const TASKS = Number(opt('tasks', '400'));
const UNTIL_DONE = args.includes('--until-done');
const STALL = Number(opt('stall', '150'));
const JSON_OUT = args.includes('--json');
const log = (...m) => {
  if (!JSON_OUT) console.log(...m);
};

const env = { ...process.env, NO_COLOR: '1', GIT_AUTHOR_NAME: 'soak', GIT_AUTHOR_EMAIL: 'soak@example.com', GIT_COMMITTER_NAME: 'soak', GIT_COMMITTER_EMAIL: 'soak@example.com' };
for (const k of ['BATON_DIR', 'BATON_SESSION', 'BATON_TOKEN', 'BATON_AGENT']) delete env[k];

const git = (cwd, ...a) => execFileSync('git', a, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
const batonSync = (cwd, ...a) => JSON.parse(execFileSync(process.execPath, [BIN, ...a, '--json'], { cwd, env, encoding: 'utf8', maxBuffer: 1 << 28 }));

/** Runs baton as a child process; resolves with its exit code, parsed JSON and wall time. */
function baton(cwd, extra, ...a) {
  const started = performance.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...a, '--json', '--lock-timeout', '60'], { cwd, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', () => {});
    child.on('close', (code) => {
      let json = null;
      try {
        json = JSON.parse(out);
      } catch {
        json = null;
      }
      res({ code, json, ms: performance.now() - started });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo));
const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] : 0);

const root = mkdtempSync(join(tmpdir(), 'baton-soak-'));
const remote = join(root, 'remote.git');
git(root, 'init', '-q', '--bare', '-b', 'main', remote);
const names = ['ana', 'ben', 'cy'];
const clones = names.map((n) => join(root, n));
git(root, 'clone', '-q', remote, clones[0]);
batonSync(clones[0], 'init', '--name', 'soak', '--profile', 'throughput');
const plan = Array.from({ length: TASKS }, (_, i) => ({ id: `s${i}`, title: `soak task ${i}`, ...(i % 5 === 4 ? { depends_on: [`s${i - 1}`] } : {}) }));
writeFileSync(join(root, 'plan.json'), JSON.stringify(plan));
batonSync(clones[0], 'import', join(root, 'plan.json'));
batonSync(clones[0], 'git', 'install');
git(clones[0], 'add', '-A');
git(clones[0], 'commit', '-q', '-m', 'board');
git(clones[0], 'push', '-q', 'origin', 'HEAD:main');
for (const c of clones.slice(1)) {
  git(root, 'clone', '-q', '-b', 'main', remote, c);
  batonSync(c, 'git', 'install');
}

const figures = { claims: 0, lost_races: 0, done: 0, syncs: 0, busy: 0, merge_failed: 0, other_failures: 0, messages: 0, added: 0, code_commits: 0, stalled: false, longest_stall: 0 };
// Turns of any agent's loop since a task was last done (--until-done gives up at --stall).
let sinceDone = 0;
const syncMs = [];
const claimMs = [];
const wins = new Map(); // task → agents whose claim --sync succeeded
const failures = [];

/** A clone's board as one object: state.json, with the tasks of every shard (tasks/XX.json) in `tasks`. */
const wholeState = (c) => boardOnDisk(join(c, 'project-plan'));
/** --until-done: every task on this clone's board is done (read after a sync). */
const allDone = (cwd) => Object.values(wholeState(cwd).tasks).every((t) => t.status === 'done');

async function agent(i) {
  const cwd = clones[i];
  const j = batonSync(cwd, 'join', '--name', names[i], '--role', 'worker');
  const me = { BATON_SESSION: j.session.id, BATON_TOKEN: j.token };
  const deadline = Date.now() + SECONDS * 1000;
  const going = () => {
    if (!UNTIL_DONE) return Date.now() < deadline;
    figures.longest_stall = Math.max(figures.longest_stall, ++sinceDone);
    if (sinceDone > STALL) figures.stalled = true;
    return !figures.stalled;
  };
  const sync = async () => {
    const r = await baton(cwd, me, 'sync');
    figures.syncs++;
    syncMs.push(r.ms);
    if (r.code === 5) figures.busy++; // the remote moved faster than this push: the next sync carries it
    else if (r.code !== 0) {
      if (r.json?.error?.code === 'MERGE_FAILED') figures.merge_failed++;
      else figures.other_failures++;
      failures.push({ agent: names[i], op: 'sync', error: r.json?.error ?? r.code });
    }
  };
  await sync();
  while (going()) {
    const c = await baton(cwd, me, 'claim-next', '--sync');
    claimMs.push(c.ms);
    if (c.code === 6) {
      await sync();
      if (UNTIL_DONE && allDone(cwd)) break;
      await sleep(pick(100, 600));
      continue;
    }
    if (c.code === 3 && c.json?.error?.code === 'LEASE_CONFLICT') {
      figures.lost_races++;
      continue;
    }
    if (c.code === 5) {
      figures.busy++; // the claim could not be pushed, so it was released: nothing is held
      await sleep(pick(100, 600));
      continue;
    }
    if (c.code !== 0) {
      figures.other_failures++;
      failures.push({ agent: names[i], op: 'claim-next --sync', error: c.json?.error ?? c.code });
      await sleep(pick(100, 400));
      continue;
    }
    figures.claims++;
    const id = c.json.task.id;
    wins.set(id, [...(wins.get(id) ?? []), j.agent.id]);
    await sleep(pick(20, 400)); // the work
    const roll = Math.random();
    if (roll < 0.15) {
      writeFileSync(join(cwd, `work-${names[i]}.txt`), `${id} at ${new Date().toISOString()}\n`);
      git(cwd, 'add', `work-${names[i]}.txt`);
      git(cwd, 'commit', '-q', '-m', `${names[i]}: work on ${id}`);
      figures.code_commits++;
    } else if (roll < 0.25) {
      if ((await baton(cwd, me, 'send', '--to', 'all', `${names[i]} finished ${id}`)).code === 0) figures.messages++;
    } else if (roll < 0.3) {
      if ((await baton(cwd, me, 'add', `follow-up of ${id} by ${names[i]}`)).code === 0) figures.added++;
    }
    let d = await baton(cwd, me, 'done', id, '--notes', `by ${names[i]}`);
    // A lock not had in time (a sync holding it on a slow machine) wrote nothing: done again.
    for (let k = 0; d.code === 5 && k < 10; k++) {
      figures.busy++;
      await sleep(pick(100, 600));
      d = await baton(cwd, me, 'done', id, '--notes', `by ${names[i]}`);
    }
    if (d.code === 0) {
      figures.done++;
      sinceDone = 0;
    } else {
      figures.other_failures++;
      failures.push({ agent: names[i], op: `done ${id}`, error: d.json?.error ?? d.code });
    }
    await sync();
    await sleep(pick(0, 300));
  }
  await baton(cwd, me, 'leave');
}

const started = Date.now();
log(`soak: 3 clones, ${TASKS} tasks, ${UNTIL_DONE ? 'until every task is done' : `${SECONDS} s`}, in ${root}`);
await Promise.all(names.map((_, i) => agent(i)));
if (figures.stalled) failures.push({ agent: 'all', op: 'loop', error: `${STALL} turns in a row without a task done` });

// Converge: sync round the clones until a full round changes nothing.
let rounds = 0;
for (; rounds < 6; rounds++) {
  const before = clones.map((c) => git(c, 'rev-parse', 'HEAD').trim());
  for (const c of clones) {
    const r = await baton(c, {}, 'sync');
    if (r.code !== 0) failures.push({ agent: 'converge', op: `sync in ${c}`, error: r.json?.error ?? r.code });
  }
  const after = clones.map((c) => git(c, 'rev-parse', 'HEAD').trim());
  if (after.every((h) => h === after[0]) && before.every((h, k) => h === after[k])) break;
}

// The checks.
const checks = {};
const states = clones.map((c) => JSON.stringify(wholeState(c)));
checks.identical_boards = states.every((s) => s === states[0]);
checks.doctor_clean = clones.every((c) => {
  try {
    const d = batonSync(c, 'doctor');
    return d.checks.every((x) => x.ok);
  } catch {
    return false;
  }
});
checks.no_double_claims = [...wins.values()].every((w) => w.length === 1);
const board = (c) => {
  const dir = join(c, 'project-plan');
  const archive = join(dir, 'archive', 'events');
  const files = existsSync(archive) ? readdirSync(archive).sort().map((f) => join(archive, f)) : [];
  return [...files, join(dir, 'events.jsonl')].flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
};
const log0 = board(clones[0]);
checks.seq_continuous = log0.every((e, k) => e.seq === k + 1) && new Set(log0.map((e) => e.id)).size === log0.length;
const have = new Set(log0.map((e) => e.id));
const state0 = JSON.parse(states[0]);
const lostEvents = new Set();
const lostTasks = new Set();
for (const c of clones) {
  const blobs = boardBlobs(c);
  for (const text of blobs.events) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      const id = JSON.parse(line).id;
      if (!have.has(id)) lostEvents.add(id);
    }
  }
  for (const text of blobs.states) for (const id of Object.keys(JSON.parse(text).tasks ?? {})) if (!state0.tasks[id]) lostTasks.add(id);
  for (const text of blobs.shards) for (const id of Object.keys(JSON.parse(text))) if (!state0.tasks[id]) lostTasks.add(id);
}
checks.nothing_lost = lostEvents.size === 0 && lostTasks.size === 0;
checks.no_failures = failures.length === 0;
const done = Object.values(state0.tasks).filter((t) => t.status === 'done').length;
if (UNTIL_DONE) {
  // Every task done, each by one task.done event, whose actor is the one agent whose claim won it.
  const doneBy = new Map();
  for (const e of log0) if (e.type === 'task.done') doneBy.set(e.task, [...(doneBy.get(e.task) ?? []), e.actor]);
  const ids = Object.keys(state0.tasks);
  checks.all_done = !figures.stalled && done === ids.length;
  checks.done_once_by_winner = ids.every((id) => doneBy.get(id)?.length === 1 && wins.get(id)?.length === 1 && doneBy.get(id)[0] === wins.get(id)[0]) && [...wins.keys()].every((id) => state0.tasks[id]);
}

const result = {
  seconds: Math.round((Date.now() - started) / 100) / 10,
  clones: 3,
  tasks: Object.keys(state0.tasks).length,
  done,
  events: log0.length,
  commits: Number(git(clones[0], 'rev-list', '--count', 'HEAD').trim()),
  ...figures,
  sync_ms: { p50: Math.round(pct(syncMs, 50)), p99: Math.round(pct(syncMs, 99)) },
  claim_next_sync_ms: { p50: Math.round(pct(claimMs, 50)), p99: Math.round(pct(claimMs, 99)) },
  converge_rounds: rounds + 1,
  checks,
  failures: failures.slice(0, 20),
  lost: { events: [...lostEvents].slice(0, 10), tasks: [...lostTasks].slice(0, 10) },
};
const ok = Object.values(checks).every(Boolean);
if (JSON_OUT) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  log(JSON.stringify(result, null, 2));
  log(ok ? 'soak: every check holds' : 'soak: FAILED');
}
if (ok) rmSync(root, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
