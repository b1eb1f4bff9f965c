// The bench's boards, made with the real commands (node bench/seed.mjs SHAPE DIR makes one to look at).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A plan shaped like a real project: chains of dependencies, specialties, paths, a third done. */
export function seedPlan(n) {
  const specialties = ['backend', 'frontend', 'docs', 'infra', null];
  const tasks = [];
  for (let i = 0; i < n; i++) {
    const chainStart = i % 20 === 0;
    tasks.push({
      id: `task-${i}`,
      title: `Implement part ${i} of the ${specialties[i % 5] ?? 'general'} work`,
      description: i % 3 === 0 ? `Details for task ${i}: what to change, where, and how to test it.` : undefined,
      priority: i % 4,
      specialty: specialties[i % 5],
      depends_on: chainStart ? [] : [`task-${i - 1}`, ...(i % 7 === 0 && i > 40 ? [`task-${i - 40}`] : [])],
      paths: [`src/module${i % 50}/**`],
      estimate: 1 + (i % 3),
      labels: i % 4 === 0 ? ['bench'] : undefined,
      status: i < n * 0.3 ? 'done' : i % 50 === 7 ? 'cancelled' : 'todo',
    });
  }
  return { tasks: tasks.map((t) => Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined))) };
}

/**
 * A board of `shape`, made with the real commands. A grown board is imported oldest first: the
 * finished tasks to archive, `baton archive`, then the rest (whose dependencies may name archived tasks).
 */
export function seedBoard(bin, shape, run = (argv, cwd) => execFileSync(process.execPath, argv, { cwd, stdio: 'ignore' }), into = null) {
  const n = parseInt(shape, 10);
  const dir = into ?? mkdtempSync(join(tmpdir(), `baton-bench-${shape}-`));
  run([bin, 'init', '--name', `bench-${shape}`], dir);
  const plan = seedPlan(n);
  const archived = shape.endsWith('-archived') ? Math.floor(n * 0.99) : shape.endsWith('-grown') ? Math.floor(n * 0.6) : 0;
  const finished = shape.endsWith('-archived') ? archived : shape.endsWith('-grown') ? Math.floor(n * 0.8) : 0;
  if (finished) plan.tasks.forEach((t, i) => (t.status = i < finished ? (i % 50 === 7 ? 'cancelled' : 'done') : t.status === 'done' ? 'todo' : t.status));
  const parts = archived ? [plan.tasks.slice(0, archived), plan.tasks.slice(archived)] : [plan.tasks];
  for (const [k, tasks] of parts.entries()) {
    writeFileSync(join(dir, 'plan.json'), JSON.stringify({ tasks }));
    run([bin, 'import', 'plan.json'], dir);
    if (k === 0 && archived) run([bin, 'archive'], dir);
  }
  return dir;
}


if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [shape = '10000', into] = process.argv.slice(2);
  const dir = seedBoard(join(fileURLToPath(new URL('..', import.meta.url)), 'bin', 'baton.cjs'), shape, undefined, into);
  console.log(dir);
}
