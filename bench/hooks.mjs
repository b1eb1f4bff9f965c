// The after-each-tool hook under `npm run bench`: `baton hook post-tool-use` run as Claude Code
// runs it (sh -c COMMAND, the hook JSON on stdin) on a seeded board (1,000 tasks unless --hooks-tasks), with nothing to deliver
// and with ten new notifications, against bare `node -e 0` in the same loop.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(argv, opts) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { ...opts, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, stdout: r.stdout };
}

export function hookCost(bin, env, plan, runs) {
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-hooks-'));
  try {
    const baton = (...a) => timed([process.execPath, bin, ...a], { cwd: dir, env });
    baton('init', '--name', 'hooks');
    const cfg = join(dir, 'project-plan', 'config.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/rate_limit_per_minute: \d+/, 'rate_limit_per_minute: 10000'));
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
    baton('import', 'plan.json');
    // baton as a dependency of the project (what `npm install -D` of this checkout makes): the
    // hooks run the project's own copy, as they do in a user's repository.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(dirname(dirname(bin)), join(dir, 'node_modules', 'baton-board'));
    baton('hooks', 'install', 'claude');
    const settings = JSON.parse(readFileSync(join(dir, '.claude', 'settings.json'), 'utf8'));
    const command = (name) => settings.hooks[name][0].hooks[0].command;
    const hook = (name, input) => timed(['sh', '-c', command(name)], { cwd: dir, env: { ...env, CLAUDE_PROJECT_DIR: dir }, input: JSON.stringify(input) });
    const bound = hook('SessionStart', { session_id: 'bench', source: 'startup', hook_event_name: 'SessionStart' });
    if (!bound.stdout.includes('you are claude')) throw new Error('session-start did not bind');
    const lead = JSON.parse(baton('join', '--name', 'lead', '--role', 'orchestrator', '--json').stdout);
    const leadEnv = { ...env, BATON_SESSION: lead.session.id, BATON_TOKEN: lead.token };
    const tool = { session_id: 'bench', hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'ls' }, tool_response: {} };
    const node = [];
    const start = [];
    const quiet = [];
    const ten = [];
    hook('PostToolUse', tool);
    for (let i = 0; i < runs; i++) {
      node.push(timed(['sh', '-c', `${JSON.stringify(process.execPath)} -e 0`], { cwd: dir, env }).ms);
      // baton's own start-up: the bundle loaded, commander built, nothing read.
      start.push(timed(['sh', '-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} --version`], { cwd: dir, env }).ms);
      const q = hook('PostToolUse', tool);
      if (q.stdout !== '') throw new Error('a quiet hook printed');
      quiet.push(q.ms);
      for (let k = 0; k < 10; k++) timed([process.execPath, bin, 'send', '--to', 'agent:claude', `message ${i}.${k}`], { cwd: dir, env: leadEnv });
      const t = hook('PostToolUse', tool);
      if (!t.stdout.includes('10 new for you')) throw new Error(`ten notifications not delivered: ${t.stdout}`);
      ten.push(t.ms);
    }
    const base = median(node);
    const up = median(start);
    const f = (xs) => ({ median_ms: median(xs), ratio: median(xs) / base, beyond_node_ms: median(xs) - base, beyond_startup_ms: median(xs) - up });
    return { tasks: plan.tasks.length, node_ms: base, baton_startup_ms: up, nothing: f(quiet), ten: f(ten) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
