import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, baseEnv, batonIn, makeBoard, makeBoardIn, type Run, type TestBoard, type TestBoardIn } from './helpers.js';

/**
 * Edges of the outside world: hostile text on a terminal, readers that stop early, config files
 * people get wrong. Pipes and a config warning (written to the process's own stderr) need real
 * processes; the rest runs in-process.
 */

/** Characters a terminal acts on, none of which may reach it from user text. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

async function joinAsIn(board: TestBoardIn, name: string): Promise<Record<string, string>> {
  const r = await board.json('join', '--name', name, '--role', 'worker');
  expect(r._code, JSON.stringify(r)).toBe(0);
  return { BATON_SESSION: r.session.id, BATON_TOKEN: r.token };
}

const runAsIn = (board: TestBoardIn, env: Record<string, string>, ...args: string[]): Promise<Run> => batonIn(args, { cwd: board.root, env });

function editConfig(board: { dir: string }, edit: (text: string) => string): void {
  const path = join(board.dir, 'config.yaml');
  writeFileSync(path, edit(readFileSync(path, 'utf8')));
}

/** Runs a bash pipeline with `baton` standing for the built binary; returns baton's exit code and stderr. */
function pipeline(board: TestBoard, script: string): { code: number; stderr: string; out: string } {
  const err = join(board.root, 'pipeline.err');
  const r = spawnSync('bash', ['-c', `baton() { "${process.execPath}" "${BIN}" "$@"; }\n${script.replace('$ERR', `"${err}"`)}\necho "exit=\${PIPESTATUS[0]}"`], {
    cwd: board.root,
    env: baseEnv(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  const code = Number(/exit=(\d+)\s*$/.exec(r.stdout)?.[1] ?? -1);
  return { code, stderr: readFileSync(err, 'utf8'), out: r.stdout };
}

const NO_CRASH = /EPIPE|Unhandled|node:internal|\n\s+at /;

describe('terminal escapes', () => {
  const title = 'evil \u001b[31mred\u001b[0m \u001b]0;pwned\u0007 c1\u009b2J \u0085 rtl\u202eabc\u2066x\u2069 del\u007f';
  const shown = 'evil \\x1b[31mred\\x1b[0m \\x1b]0;pwned\\x07 c1\\x9b2J \\x85 rtl\\u202eabc\\u2066x\\u2069 del\\x7f';
  const description = 'first line\nsecond \u001b[2J line';

  it("list, show, status and next show a title's ESC, OSC, BEL, C1 and bidi characters escaped; --json keeps them exact", async () => {
    const board = await makeBoardIn();
    expect((await board.run('add', title, '--id', 'evil', '--description', description)).code).toBe(0);
    const me = await joinAsIn(board, 'ada');
    const human: Record<string, Run> = {
      list: await board.run('list'),
      show: await board.run('show', 'evil'),
      status: await board.run('status'),
      next: await runAsIn(board, me, 'next'),
    };
    for (const [cmd, r] of Object.entries(human)) {
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
      expect(r.stdout, cmd).not.toMatch(RAW_CONTROL);
      expect(r.stdout, cmd).toContain(shown);
    }
    // The description's newline is the renderer's on purpose; its escape is not.
    expect(human.show!.stdout).toContain('first line\nsecond \\x1b[2J line');

    const json: Record<string, Run> = {
      list: await board.run('list', '--json'),
      show: await board.run('show', 'evil', '--json'),
      status: await board.run('status', '--json'),
      next: await runAsIn(board, me, 'next', '--json'),
    };
    for (const [cmd, r] of Object.entries(json)) {
      expect(r.code, cmd).toBe(0);
      // Exactly JSON.stringify's spelling: C0 as \u001b, C1 and bidi characters as they are.
      expect(r.stdout, cmd).toContain(JSON.stringify(title));
      expect(r.stdout, cmd).not.toContain('\\\\x1b');
    }
    expect(json.list!.json.tasks.find((t: { id: string }) => t.id === 'evil').title).toBe(title);
    expect(json.show!.json.task).toMatchObject({ title, description });
    expect(json.next!.json.task.title).toBe(title);
  });

  it("keeps baton's own colours on a colour terminal while the title's escapes stay escaped; errors quoting input are escaped too", async () => {
    const board = await makeBoardIn();
    await board.run('add', title, '--id', 'evil');
    const coloured = await batonIn(['status'], { cwd: board.root, env: { NO_COLOR: '', FORCE_COLOR: '1' } });
    expect(coloured.code).toBe(0);
    expect(coloured.stdout).toMatch(/\u001b\[1mReady next \(1\):\u001b\[22m/);
    expect(coloured.stdout).toContain(shown);
    expect(coloured.stdout.replace(/\u001b\[\d+m/g, '')).not.toMatch(RAW_CONTROL);

    const bad = await board.run('add', 'x', '--priority', 'P\u001b[9');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'P\\x1b[9'");
    expect(bad.stderr).not.toMatch(RAW_CONTROL);
    const badJson = await board.run('add', 'x', '--priority', 'P\u001b[9', '--json');
    expect(badJson.json.error.message).toContain("'P\u001b[9'");
  });
});

describe('closed pipes', () => {
  it('baton list | head -1 on a board of 5000 tasks exits 0 with nothing on stderr, in text and JSON, and events --follow | head -1 ends', () => {
    const board = makeBoard();
    writeFileSync(join(board.root, 'plan.json'), JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ id: `t${i}`, title: `task number ${i} with a title long enough to fill the pipe` }))));
    expect(board.run('import', 'plan.json').code).toBe(0);
    for (const cmd of ['list', 'list --json', 'status', 'events --limit 0']) {
      const r = pipeline(board, `baton ${cmd} 2>$ERR | head -c 20 >/dev/null`);
      expect(r.stderr, cmd).toBe('');
      expect(r.code, cmd).toBe(0);
    }
    // A read that never ends by itself must end when its reader does. All 5000 events (--limit 0)
    // overflow the pipe's buffer, so a write is sure to meet the closed pipe.
    const follow = pipeline(board, `timeout 30 "${process.execPath}" "${BIN}" events --follow --limit 0 2>$ERR | head -1 >/dev/null`);
    expect(follow.stderr).not.toMatch(NO_CRASH);
    expect(follow.code).toBe(0);
  });

  it('a mutation whose stdout and stderr go to an already closed pipe commits, exits 0 and prints no stack trace', () => {
    const board = makeBoard();
    // An unknown key makes the command write a warning to stderr before its commit, too.
    editConfig(board, (t) => `${t}\nsurprise: 1\n`);
    // The reader closes its end before baton writes a byte: every write meets EPIPE, the
    // warning on stderr before the commit as well as the result after it.
    const both = pipeline(board, ': >$ERR; baton add "both closed" --id both 2>&1 | { exec 0<&-; sleep 1; }');
    expect(both.code).toBe(0);
    const r = pipeline(board, 'baton add "into a closed pipe" --id piped 2>$ERR | { exec 0<&-; sleep 1; }');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const listed = board.json('list');
    expect(listed.tasks.map((t: { id: string }) => t.id).sort()).toEqual(['both', 'piped']);
    // A failure into a closed pipe keeps its own exit code.
    const failed = pipeline(board, ': >$ERR; baton show nope 2>&1 | { exec 0<&-; sleep 1; }');
    expect(failed.code).toBe(4);
  });
});

describe('config.yaml', () => {
  it('unknown keys, top level and nested, are warned about once with the closest known key; doctor lists them every time', () => {
    const board = makeBoard();
    editConfig(board, (t) => t.replace(/^profile: .*$/m, 'profil: safe').replace('  max_parallel: 4', '  max_paralel: 4').replace(/^ranking:$/m, 'rankng:'));
    const top = "warning: unknown key 'profil' in config.yaml (did you mean 'profile'?)";
    const nested = "warning: unknown key 'spawn.max_paralel' in config.yaml (did you mean 'spawn.max_parallel'?)";
    const section = "warning: unknown key 'rankng' in config.yaml (did you mean 'ranking'?)";

    // The first command to parse the new text warns, each key once, on stderr only.
    const add = board.run('add', 'a task', '--json');
    expect(add.code).toBe(0);
    expect(add.json).toMatchObject({ ok: true });
    const lines = add.stderr.split('\n').filter(Boolean);
    expect(lines.sort()).toEqual([top, nested, section].sort());
    // Served from the cache afterwards: no more warnings.
    for (const args of [['list'], ['list', '--json'], ['status']]) expect(board.run(...args).stderr, args.join(' ')).toBe('');

    for (let i = 0; i < 2; i++) {
      const doctor = board.json('doctor');
      const check = doctor.checks.find((c: { name: string }) => c.name === 'config-keys');
      expect(check).toMatchObject({ ok: false, level: 'warn' });
      for (const w of [top, nested, section]) expect(check.message).toContain(w.replace('warning: ', ''));
    }
    expect(board.run('doctor').stdout).toMatch(/^! config-keys +unknown key 'profil'/m);

    // A key far from every known one is still named, without a guess; a key of another section is found there.
    editConfig(board, (t) => `${t}\nzzqqxx: 1\nmax_depth: 3\n`);
    const again = board.run('list', '--json');
    expect(again.code).toBe(0);
    expect(again.json.ok).toBe(true);
    expect(again.stderr).toContain("warning: unknown key 'zzqqxx' in config.yaml\n");
    expect(again.stderr).toContain("warning: unknown key 'max_depth' in config.yaml (did you mean 'spawn.max_depth'?)");

    // A clean config has a passing check.
    const clean = makeBoard();
    expect(clean.json('doctor').checks.find((c: { name: string }) => c.name === 'config-keys')).toMatchObject({ ok: true });
  });

  it("an unknown key's warning is said by a command that then fails, in --json too, its name's control characters escaped", () => {
    const board = makeBoard();
    editConfig(board, (t) => `${t}\n"bell\\a\\e]0;pwned": 1\n`);
    const r = board.run('show', 'nope', '--json');
    expect([r.code, r.json.error.code]).toEqual([4, 'NOT_FOUND']);
    expect(r.stderr).toBe("warning: unknown key 'bell\\u0007\\u001b]0;pwned' in config.yaml\n");
  });

  it('numbers out of range are INVALID_INPUT (exit 2) naming the file, the key and the range; claim with lease_ttl_seconds 1e20 too', async () => {
    const board = await makeBoardIn();
    const me = await joinAsIn(board, 'ada');
    await board.run('add', 'work', '--id', 'w');
    const cases: [RegExp, string, string, string][] = [
      [/^lease_ttl_seconds: .*$/m, 'lease_ttl_seconds: 1e20', 'lease_ttl_seconds', 'from 1 to 604800'],
      [/^lease_ttl_seconds: .*$/m, 'lease_ttl_seconds: 0', 'lease_ttl_seconds', 'from 1 to 604800'],
      [/^session_ttl_seconds: .*$/m, 'session_ttl_seconds: .inf', 'session_ttl_seconds', 'from 1 to 2592000'],
      [/^ {2}priority: 100/m, '  priority: -5', 'ranking.priority', 'from 0 to 10000'],
      [/^ {2}rate_limit_per_minute: .*$/m, '  rate_limit_per_minute: 0', 'notifications.rate_limit_per_minute', 'whole number from 1 to 10000'],
      [/^ {2}max_rows: 0/m, '  max_rows: 1.5', 'events.max_rows', 'whole number from 0 to 10000000'],
      [/^ {2}max_age_days: 0/m, '  max_age_days: 100000', 'events.max_age_days', 'from 0 to 3650'],
      [/^ {2}max_parallel: 4/m, '  max_parallel: 1000', 'spawn.max_parallel', 'whole number from 1 to 100'],
      [/^ {2}max_depth: 2/m, '  max_depth: "deep"', 'spawn.max_depth', 'whole number from 0 to 10'],
    ];
    const original = readFileSync(join(board.dir, 'config.yaml'), 'utf8');
    for (const [pattern, line, key, range] of cases) {
      expect(pattern.test(original), line).toBe(true);
      writeFileSync(join(board.dir, 'config.yaml'), original.replace(pattern, line));
      const r = await board.run('list', '--json');
      expect(r.code, line).toBe(2);
      expect(r.json.error, line).toMatchObject({ code: 'INVALID_INPUT', key });
      expect(r.json.error.message, line).toContain(join(board.dir, 'config.yaml'));
      expect(r.json.error.message, line).toContain(`${key}: must be a`);
      expect(r.json.error.message, line).toContain(range);
    }
    writeFileSync(join(board.dir, 'config.yaml'), original.replace(/^lease_ttl_seconds: .*$/m, 'lease_ttl_seconds: 1e20'));
    const claim = await runAsIn(board, me, 'claim', 'w');
    expect(claim.code).toBe(2);
    expect(claim.stderr).toContain('lease_ttl_seconds: must be a number from 1 to 604800');
    expect(claim.stderr).not.toMatch(/internal error/i);
    // The ends of a range are allowed.
    writeFileSync(join(board.dir, 'config.yaml'), original.replace(/^lease_ttl_seconds: .*$/m, 'lease_ttl_seconds: 604800').replace(/^ {2}max_depth: 2/m, '  max_depth: 0'));
    const ok = await runAsIn(board, me, 'claim', 'w', '--json');
    expect(ok.code, ok.stdout).toBe(0);
    expect(Date.parse(ok.json.task.lease.expires_at) - Date.now()).toBeGreaterThan(604_000_000);
  });

  it('a billion-laughs config.yaml or import plan is INVALID_INPUT naming the file, at once; a plan that reuses an anchor still imports', async () => {
    const board = await makeBoardIn();
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) levels.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
    writeFileSync(join(board.root, 'laughs.yaml'), `${levels.join('\n')}\ntasks: *l8\n`);
    let t = Date.now();
    const plan = await board.run('import', 'laughs.yaml', '--json');
    expect(Date.now() - t).toBeLessThan(10_000);
    expect(plan.code).toBe(2);
    expect(plan.json.error.code).toBe('INVALID_INPUT');
    expect(plan.json.error.message).toMatch(/^laughs\.yaml is not valid YAML: its aliases expand too far/);

    const before = readFileSync(join(board.dir, 'config.yaml'), 'utf8');
    writeFileSync(join(board.dir, 'config.yaml'), `${before}\n${levels.map((l) => `x_${l}`).join('\n')}\n`);
    t = Date.now();
    const cfg = await board.run('list', '--json');
    expect(Date.now() - t).toBeLessThan(10_000);
    expect(cfg.code).toBe(2);
    expect(cfg.json.error.code).toBe('INVALID_INPUT');
    expect(cfg.json.error.message).toContain(`${join(board.dir, 'config.yaml')}: its aliases expand too far`);
    const human = await board.run('status');
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/^error: .*config\.yaml: its aliases expand too far/);
    expect(human.stderr).not.toMatch(/internal error|ReferenceError/i);

    writeFileSync(join(board.dir, 'config.yaml'), before);
    const tasks = Array.from({ length: 200 }, (_, i) => `  - title: shared paths ${i}\n    paths: *web`).join('\n');
    writeFileSync(join(board.root, 'reuse.yaml'), `web: &web ["web/**", "shared/**"]\ntasks:\n${tasks}\n`);
    const reused = await board.run('import', 'reuse.yaml', '--json');
    expect(reused.code, reused.stdout).toBe(0);
    expect((await board.json('show', 'shared-paths-7')).task.owned_paths).toEqual(['web/**', 'shared/**']);
  });
});
