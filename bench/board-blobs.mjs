// Shared by the soak (bench/soak.mjs) and the git tests (test/git-helpers.ts): what git holds of
// a board, to check that nothing ever committed was lost.
import { execFileSync } from 'node:child_process';

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
    else if (/^project-plan\/tasks\/[0-9a-f]{2}\.json$/.test(path)) kind.set(line.slice(0, sp), 'shard');
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
