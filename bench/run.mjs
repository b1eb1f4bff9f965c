#!/usr/bin/env node
// npm run bench: whole-process timings of baton on seeded boards of 1,000 and 10,000 tasks,
// each quoted as a ratio to bare `node -e 0` measured in the same run (absolute times on
// shared machines drift; ratios much less). Writes bench/results/<time>.json and latest.json.
//
//   node bench/run.mjs [--runs N] [--sizes 1000,10000] [--only status,add]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(root, 'bin', 'baton.cjs');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('runs', '15'));
const SIZES = opt('sizes', '1000,10000').split(',').map(Number);
const ONLY = opt('only', '') ? opt('only', '').split(',') : null;

/** SPEC §11 targets: [reads, mutations] ratio limits by board size. */
const TARGET = { 1000: { read: 1.5, write: 2 }, 10000: { read: 3, write: 4 } };

const env = { ...process.env, NO_COLOR: '1' };
for (const k of ['BATON_DIR', 'BATON_SESSION', 'BATON_TOKEN']) delete env[k];

function time(argv, cwd) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 28 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}${String(r.stdout).slice(0, 2000)}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

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

function seedBoard(n) {
  const dir = mkdtempSync(join(tmpdir(), `baton-bench-${n}-`));
  time([BIN, 'init', '--name', `bench-${n}`], dir);
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(seedPlan(n)));
  time([BIN, 'import', 'plan.json'], dir);
  return dir;
}

const COMMANDS = [
  { name: 'status', kind: 'read', argv: () => ['status', '--json'] },
  { name: 'list --ready', kind: 'read', argv: () => ['list', '--ready', '--json'] },
  { name: 'add', kind: 'write', argv: (i) => ['add', `bench add ${i}`, '--json'] },
  { name: 'edit', kind: 'write', argv: (i) => ['edit', 'task-5000', '--title', `edited ${i}`, '--json'] },
];

const results = { at: new Date().toISOString(), node: process.version, runs: RUNS, sizes: {} };
const rows = [];
for (const n of SIZES) {
  const dir = seedBoard(n);
  try {
    const cmds = COMMANDS.filter((c) => !ONLY || ONLY.includes(c.name.split(' ')[0]));
    const samples = Object.fromEntries([['node -e 0', []], ...cmds.map((c) => [c.name, []])]);
    // Warm the file cache, then interleave so drift hits every command alike.
    time(['-e', '0'], dir);
    for (const c of cmds) time([BIN, ...c.argv(-1).map((a) => a.replace('task-5000', `task-${Math.floor(n / 2)}`))], dir);
    for (let i = 0; i < RUNS; i++) {
      samples['node -e 0'].push(time(['-e', '0'], dir));
      for (const c of cmds) samples[c.name].push(time([BIN, ...c.argv(i).map((a) => a.replace('task-5000', `task-${Math.floor(n / 2)}`))], dir));
    }
    const base = median(samples['node -e 0']);
    const size = { node_ms: base, commands: {} };
    rows.push([`${n} tasks`, 'node -e 0', base.toFixed(1), '1.00', '', '']);
    for (const c of cmds) {
      const ms = median(samples[c.name]);
      const ratio = ms / base;
      const target = TARGET[n]?.[c.kind] ?? null;
      size.commands[c.name] = { kind: c.kind, median_ms: ms, p90_ms: [...samples[c.name]].sort((a, b) => a - b)[Math.floor(RUNS * 0.9)], ratio, target };
      rows.push(['', c.name, ms.toFixed(1), ratio.toFixed(2), target ? `≤ ${target}` : '', target ? (ratio <= target ? 'ok' : 'OVER') : '']);
    }
    results.sizes[n] = size;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const outDir = join(root, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const json = `${JSON.stringify(results, null, 2)}\n`;
writeFileSync(join(outDir, `${results.at.replace(/[:.]/g, '-')}.json`), json);
writeFileSync(join(outDir, 'latest.json'), json);

const header = ['board', 'command', 'median ms', '× node', 'target', ''];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const fmt = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log(fmt(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(fmt(r));
console.log(`\n${RUNS} runs each, medians; JSON in bench/results/latest.json`);
