import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseToml } from '@decimalturn/toml-patch';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { parse as parseJsonc } from 'jsonc-parser';
import { describe, expect, it, onTestFinished } from 'vitest';
import { baseEnv, tempDir } from './helpers.js';

/**
 * baton in a user's repository, installed as a user installs it: `npm pack` of this checkout, the
 * tarball installed into a project with no network at all, the set-up commands run through npx,
 * and what they write committed, cloned into another directory, installed there with `npm ci`,
 * and run exactly as each client runs it.
 */

const ROOT = resolve(import.meta.dirname, '..');

/** What a shell in the project runs with: this machine's tools, npm kept off the network. */
const env = (extra: Record<string, string> = {}) => ({ ...baseEnv(), npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...extra });
const sh = (cwd: string, line: string, extra: Record<string, string> = {}) => execFileSync('bash', ['-c', line], { cwd, env: env(extra), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The files the set-up writes into the repository, each as committed. */
const CLIENT_FILES = ['.mcp.json', '.cursor/mcp.json', '.codex/config.toml', '.gemini/settings.json', '.vscode/mcp.json', '.claude/settings.json', '.codex/hooks.json', 'AGENTS.md', 'project-plan/mcp-host-config.json'];

async function listTools(cwd: string, server: { command: string; args: string[] }): Promise<string[]> {
  const client = new Client({ name: 'install-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: server.command, args: server.args, cwd, env: env(), stderr: 'pipe' }));
  onTestFinished(() => client.close());
  const { tools } = await client.listTools();
  await client.close();
  return tools.map((t) => t.name);
}

describe('installed as a package', () => {
  it('npm pack gives a tarball that installs with no network and no build step; the files it writes for clients work after git clone and npm ci in another directory, name nothing of this machine, and a second set-up changes nothing', async () => {
    const packs = tempDir();
    const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', packs, '--json'], { cwd: ROOT, env: env(), encoding: 'utf8' }))[0];
    expect(packed.name).toBe('baton-board');
    // What runs is in the tarball: the bundle, the shim, the templates; no source to build.
    const files = packed.files.map((f: { path: string }) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/baton.cjs', 'dist/baton.cjs', 'templates/config.yaml', 'package.json']));
    expect(files.filter((f: string) => f.startsWith('src/'))).toEqual([]);

    // A user's repository: the tarball kept in it (as a team shares a build before it is published).
    const a = join(tempDir(), 'repo-a');
    mkdirSync(join(a, 'vendor'), { recursive: true });
    git(a, 'init', '-q', '-b', 'main');
    copyFileSync(join(packs, packed.filename), join(a, 'vendor', packed.filename));
    sh(a, `npm init -y >/dev/null && printf 'node_modules/\\n' > .gitignore && npm install -D ./vendor/${packed.filename} >/dev/null`);
    // Nothing but baton itself was installed: it needs no other package at run time.
    const lock = JSON.parse(readFileSync(join(a, 'package-lock.json'), 'utf8'));
    expect(Object.keys(lock.packages).filter((p) => p !== '')).toEqual(['node_modules/baton-board']);
    expect(sh(a, 'npx baton --version').trim()).toBe(packed.version);
    expect(sh(a, 'node_modules/.bin/baton-board --version').trim()).toBe(packed.version);

    // Entries an older baton wrote (npx, an absolute path) are brought up to date by the set-up.
    mkdirSync(join(a, '.claude'));
    writeFileSync(join(a, '.mcp.json'), JSON.stringify({ mcpServers: { baton: { command: 'npx', args: ['baton', 'mcp'] } } }));
    writeFileSync(join(a, '.claude', 'settings.json'), JSON.stringify({ hooks: { Stop: [{ hooks: [{ type: 'command', command: `node '${ROOT}/bin/baton.cjs' hook stop --client claude`, timeout: 10 }] }] } }));
    // The set-up, as the README gives it.
    // The set-up, as the README gives it (npx; the rest straight through the installed bin, which is
    // what npx runs, to keep the test short).
    sh(a, 'npx baton init --name shop --agents-md >/dev/null && npx baton mcp config --client claude >/dev/null && npx baton hooks install claude >/dev/null');
    sh(a, ['cursor', 'codex', 'gemini', 'vscode'].map((c) => `node_modules/.bin/baton mcp config --client ${c} >/dev/null`).join(' && '));
    sh(a, ['codex', 'gemini'].map((c) => `node_modules/.bin/baton hooks install ${c} >/dev/null`).join(' && '));
    for (const f of CLIENT_FILES) {
      const text = readFileSync(join(a, f), 'utf8');
      expect(text, f).not.toContain(a);
      expect(text, f).not.toContain(ROOT);
      // Nothing a client runs goes through npx (slow, and a bare `npx baton` fetches another package where this one is missing).
      if (f !== 'AGENTS.md') expect(text, f).not.toContain('npx');
    }
    expect(readFileSync(join(a, '.claude', 'settings.json'), 'utf8').match(/ hook stop /g)).toHaveLength(1);
    git(a, 'add', '-A');
    git(a, 'commit', '-q', '-m', 'baton for the team');

    // Another machine: a clone in another directory, npm ci, and nothing else.
    const b = join(tempDir(), 'elsewhere', 'repo-b');
    git(a, 'clone', '-q', a, b);
    sh(b, 'npm ci >/dev/null');
    const committed = Object.fromEntries(CLIENT_FILES.map((f) => [f, readFileSync(join(b, f), 'utf8')]));
    // The set-up run again there changes nothing.
    for (const client of ['claude', 'cursor', 'codex', 'gemini', 'vscode']) expect(JSON.parse(sh(b, `node_modules/.bin/baton mcp config --client ${client} --json`)).changed, client).toBe(false);
    for (const client of ['claude', 'codex', 'gemini']) expect(JSON.parse(sh(b, `node_modules/.bin/baton hooks install ${client} --json`)).changed, client).toBe(false);
    for (const f of CLIENT_FILES) expect(readFileSync(join(b, f), 'utf8'), f).toBe(committed[f]);

    // Each client's MCP entry, started as the client starts it (in the project's root): baton's tools.
    const entries: Record<string, { command: string; args: string[] }> = {
      claude: parseJsonc(committed['.mcp.json']!).mcpServers.baton,
      cursor: parseJsonc(committed['.cursor/mcp.json']!).mcpServers.baton,
      gemini: parseJsonc(committed['.gemini/settings.json']!).mcpServers.baton,
      vscode: parseJsonc(committed['.vscode/mcp.json']!).servers.baton,
      codex: (parseToml(committed['.codex/config.toml']!) as any).mcp_servers.baton,
      host: parseJsonc(committed['project-plan/mcp-host-config.json']!).mcpServers.baton,
    };
    for (const [client, entry] of Object.entries(entries)) {
      expect(entry, client).toMatchObject({ command: 'node', args: ['node_modules/baton-board/bin/baton.cjs', 'mcp'] });
      expect(await listTools(b, entry), client).toEqual(expect.arrayContaining(['next', 'claim', 'done']));
    }

    // Each client's session-start hook, run as the client runs it (sh -c, its project variable, its
    // JSON on stdin), primes the agent with commands its shell can run: `npx baton …`.
    const hooks: [string, string, string, Record<string, string>][] = [
      ['claude', '.claude/settings.json', 'SessionStart', { CLAUDE_PROJECT_DIR: b, CLAUDE_ENV_FILE: join(tempDir(), 'env') }],
      ['gemini', '.gemini/settings.json', 'SessionStart', { GEMINI_PROJECT_DIR: b }],
      ['codex', '.codex/hooks.json', 'SessionStart', { CODEX_ENV_FILE: join(tempDir(), 'env') }],
    ];
    for (const [client, file, event, vars] of hooks) {
      const command = parseJsonc(committed[file]!).hooks[event].flatMap((g: { hooks: { command: string }[] }) => g.hooks).find((h: { command: string }) => h.command.includes(' hook '))!.command;
      // From a subdirectory where the client has a project variable; from the root where it has not.
      const cwd = client === 'codex' ? b : join(b, 'project-plan');
      const r = spawnSync('sh', ['-c', command], { cwd, env: env(vars), input: JSON.stringify({ session_id: `${client}-1`, source: 'startup', hook_event_name: event, cwd: b }), encoding: 'utf8' });
      expect(r.status, `${client}: ${r.stderr}`).toBe(0);
      expect(r.stderr, client).toBe('');
      const context = JSON.parse(r.stdout).hookSpecificOutput.additionalContext as string;
      expect(context, client).toContain(`you are ${client}`);
      expect(context, client).toMatch(/Loop: 1\. npx baton-board next {2}2\. npx baton-board claim ID/);
    }
    expect(committed['AGENTS.md']).toContain('eval "$(npx baton-board join --name YOUR-NAME --role worker --export)"');
    // The agent's shell, in a subdirectory of the project: the command it was given works, offline.
    mkdirSync(join(b, 'src'));
    expect(JSON.parse(sh(join(b, 'src'), 'npx baton-board status --json')).project).toBe('shop');

    // Installed globally instead (npm install -g): a project without baton in node_modules gets
    // entries that run `baton-board` from PATH, a name no other package has.
    const prefix = tempDir();
    sh(prefix, `npm install -g --prefix ${prefix} ${join(packs, packed.filename)} >/dev/null`);
    const path = `${join(prefix, 'bin')}:${process.env.PATH}`;
    const g = join(tempDir(), 'global-user');
    mkdirSync(g);
    sh(g, 'baton init --name g >/dev/null && baton mcp config --client claude >/dev/null && baton hooks install claude >/dev/null', { PATH: path });
    const entry = JSON.parse(readFileSync(join(g, '.mcp.json'), 'utf8')).mcpServers.baton;
    expect(entry).toMatchObject({ command: 'baton-board', args: ['mcp'] });
    expect(readFileSync(join(g, '.claude', 'settings.json'), 'utf8')).toContain('"baton-board hook stop --client claude"');
    const client = new Client({ name: 'install-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: entry.command, args: entry.args, cwd: g, env: env({ PATH: path }), stderr: 'pipe' }));
    onTestFinished(() => client.close());
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('next');
    await client.close();
  }, 120_000);
});
