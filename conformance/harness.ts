import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onTestFinished } from 'vitest';
import { boardOnDisk } from '../bench/board-blobs.mjs';

/**
 * What every client's conformance test shares: baton packed as the package a user installs, a
 * fresh user repository set up the way the README says, a fresh HOME per run, the pinned clients,
 * and a scripted model API on 127.0.0.1 that records every request.
 */

const ROOT = resolve(import.meta.dirname, '..');
/** The pinned clients (conformance/clients/package.json), installed by `npm ci --prefix conformance/clients`. */
export const CLIENTS = join(ROOT, 'conformance', 'clients', 'node_modules', '.bin');

let packed: string | null = null;

/** `npm pack` of this checkout (built by `npm run conformance` first): the tarball a user installs. Once per run. */
export function packBaton(): string {
  if (packed) return packed;
  const dest = mkdtempSync(join(tmpdir(), 'baton-pack-'));
  process.once('exit', () => rmSync(dest, { recursive: true, force: true }));
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dest, '--json'], { cwd: ROOT, encoding: 'utf8' });
  const name = (JSON.parse(out) as { filename: string }[])[0]!.filename;
  packed = join(dest, name);
  return packed;
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment a client runs in: a fresh HOME, nothing of this machine's agent or baton settings, no telemetry or update checks. */
export function cleanEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(BATON_|ANTHROPIC_|CLAUDE|OPENAI_|CODEX_|GEMINI_|GOOGLE_|NODE_OPTIONS$|npm_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache'), XDG_DATA_HOME: join(home, '.local', 'share'), NO_COLOR: '1', CI: '1', ...extra };
}

export interface Project {
  /** The user's repository (a git repository with a package.json and baton installed). */
  root: string;
  /** A fresh HOME for the client. */
  home: string;
  /** Runs a shell line in the project, as the README's set-up does; throws with its output when it fails. */
  sh(line: string, env?: Record<string, string>): string;
}

/** A fresh user repository: git, a package.json, HOME of its own. The set-up steps are the caller's (the README's). */
export function userRepository(): Project {
  const base = tempDir('baton-conformance-');
  const root = join(base, 'repo');
  const home = join(base, 'home');
  mkdirSync(root);
  mkdirSync(home);
  const sh = (line: string, env: Record<string, string> = {}) => {
    try {
      return execFileSync('bash', ['-c', line], { cwd: root, env: cleanEnv(home, { PATH: process.env.PATH!, ...env }), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; status?: number };
      throw new Error(`\`${line}\` failed (exit ${err.status}): ${err.stdout ?? ''}${err.stderr ?? ''}`);
    }
  };
  sh('git init -q -b main && git config user.email dev@example.com && git config user.name dev && npm init -y >/dev/null');
  return { root, home, sh };
}

// ---------------------------------------------------------------- the scripted model API

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** The parsed JSON body (null when the body is not JSON). */
  body: any;
  raw: string;
}

/**
 * An HTTP server on 127.0.0.1 (a free port) that records every request and answers each with the
 * handler the protocol module gives. It listens on the loopback address only.
 */
export class ModelServer {
  readonly requests: Recorded[] = [];
  private server: Server | null = null;
  constructor(private readonly handler: (req: Recorded, res: ServerResponse, self: ModelServer) => void | Promise<void>) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        let body: any = null;
        try {
          body = raw ? JSON.parse(raw) : null;
        } catch {
          body = null;
        }
        const rec: Recorded = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, raw };
        this.requests.push(rec);
        Promise.resolve(this.handler(rec, res, this)).catch((e: Error) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: e.message } }));
        });
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    onTestFinished(() => this.stop());
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): void {
    this.server?.closeAllConnections();
    this.server?.close();
    this.server = null;
  }
}

/** Runs a client to its end: exit code, stdout, stderr. No stdin. */
export function runClient(cmd: string, args: string[], o: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 180_000);
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr });
    });
  });
}

/** The board as the client left it: state.json, with every task shard's tasks (tasks/XX.json) in `tasks`. */
export const boardState = (root: string): any => boardOnDisk(join(root, 'project-plan'));
