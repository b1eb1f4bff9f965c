// Shared by the soak (bench/soak.mjs), the tests (test/) and the conformance harness: a board as
// its files hold it, and what git holds of a board, to check that nothing ever committed was lost.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A board directory's state as one object, whatever its layout: state.json, and in layout 2 the
 * tasks of every shard (tasks/XX.json) put back in it, by sorted id, as layout 1 held them.
 */
export function boardOnDisk(dir) {
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  if (state.schema !== 2) return state;
  let names = [];
  try {
    names = readdirSync(join(dir, 'tasks')).filter((n) => /^[0-3][0-9a-f]\.json$/.test(n)).sort();
  } catch {
    /* no task yet */
  }
  const tasks = Object.assign({}, ...names.map((n) => JSON.parse(readFileSync(join(dir, 'tasks', n), 'utf8'))));
  return { ...state, tasks: Object.fromEntries(Object.keys(tasks).sort().map((id) => [id, tasks[id]])) };
}

/**
 * Every version of the board's state.json, task shards (tasks/XX.json) and event files that git has, on any ref or in the
 * reflog, read with two git processes: `rev-list --objects` names every blob reachable from them
 * (with its path), and one `cat-file --batch` reads them all.
 */
export function boardBlobs(repo) {
  const listed = execFileSync('git', ['rev-list', '--all', '--reflog', '--objects'], { cwd: repo, encoding: 'utf8', maxBuffer: 1 << 28 });
  const kind = new Map();
  for (const line of listed.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const path = line.slice(sp + 1);
    if (path === 'project-plan/events.jsonl' || /^project-plan\/archive\/events\/.*\.jsonl$/.test(path)) kind.set(line.slice(0, sp), 'events');
    else if (path === 'project-plan/state.json') kind.set(line.slice(0, sp), 'state');
    else if (/^project-plan\/tasks\/[0-3][0-9a-f]\.json$/.test(path)) kind.set(line.slice(0, sp), 'shard');
  }
  const out = { events: [], states: [], shards: [] };
  if (!kind.size) return out;
  const batch = execFileSync('git', ['cat-file', '--batch'], { cwd: repo, input: `${[...kind.keys()].join('\n')}\n`, maxBuffer: 1 << 30 });
  for (let at = 0; at < batch.length; ) {
    const nl = batch.indexOf(10, at);
    const [sha, , size] = batch.subarray(at, nl).toString('utf8').split(' ');
    const body = batch.subarray(nl + 1, nl + 1 + Number(size)).toString('utf8');
    const k = kind.get(sha);
    (k === 'events' ? out.events : k === 'shard' ? out.shards : out.states).push(body);
    at = nl + 1 + Number(size) + 1;
  }
  return out;
}
