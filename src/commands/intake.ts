import { gitOrNull as git } from '../store/gitrun.js';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { checkId } from '../rules/ids.js';
import { createTask, toTaskJson } from '../rules/taskmodel.js';
import type { TaskJson } from '../rules/taskmodel.js';
import { archiveIds } from '../store/archivefiles.js';
import { boardDir, type Ctx, load, mutate } from './context.js';

export interface Candidate {
  id: string;
  title: string;
  source: 'package' | 'folder' | 'marker' | 'recent';
  candidate_owned_paths: string[];
  candidate_depends_on: string[];
}

export interface IntakeResult {
  revision: number;
  candidates: Candidate[];
  /** With --seed: the ids added (existing ones are left alone, so seeding twice adds nothing). */
  seeded: string[];
}

const SKIP = new Set(['node_modules', '.git', 'dist', 'build', 'coverage', 'vendor', 'target', '.next', 'project-plan']);

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40) || 'root';

/** Package manifests up to two levels down (package.json, Cargo.toml, pyproject.toml, go.mod). */
function packages(root: string): { dir: string; name: string; deps: string[] }[] {
  const out: { dir: string; name: string; deps: string[] }[] = [];
  const visit = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    if (depth > 0) {
      for (const m of ['package.json', 'Cargo.toml', 'pyproject.toml', 'go.mod']) {
        if (!names.includes(m)) continue;
        let name = relative(root, dir);
        let deps: string[] = [];
        if (m === 'package.json') {
          try {
            const pkg = JSON.parse(readFileSync(join(dir, m), 'utf8')) as { name?: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
            name = pkg.name ?? name;
            deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
          } catch {
            /* an unreadable manifest still marks a package */
          }
        }
        out.push({ dir: relative(root, dir), name, deps });
        break;
      }
    }
    if (depth >= 2) return;
    for (const n of names) {
      if (SKIP.has(n) || n.startsWith('.')) continue;
      const p = join(dir, n);
      try {
        if (statSync(p).isDirectory()) visit(p, depth + 1);
      } catch {
        /* vanished */
      }
    }
  };
  visit(root, 0);
  return out;
}

/**
 * Scans the workspace for candidate tasks: packages (with the dependencies between them),
 * top-level source folders, TODO/FIXME markers and recently changed areas. Candidates carry
 * candidate_owned_paths / candidate_depends_on only: hints that never serialise work until
 * someone confirms them (baton edit ID --confirm-paths --confirm-deps).
 */
export function scan(root: string): Candidate[] {
  const out = new Map<string, Candidate>();
  const add = (c: Candidate) => {
    if (!out.has(c.id)) out.set(c.id, c);
  };
  const pkgs = packages(root);
  const byName = new Map(pkgs.map((p) => [p.name, `intake-pkg-${slug(p.dir)}`]));
  for (const p of pkgs) {
    add({
      id: `intake-pkg-${slug(p.dir)}`,
      title: `Package ${p.name} (${p.dir})`,
      source: 'package',
      candidate_owned_paths: [`${p.dir}/**`],
      candidate_depends_on: p.deps.map((d) => byName.get(d)).filter((x): x is string => Boolean(x)),
    });
  }
  if (!pkgs.length) {
    for (const top of ['src', 'lib', 'app', 'apps', 'packages', 'cmd', 'internal']) {
      const dir = join(root, top);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
      for (const n of readdirSync(dir).sort()) {
        if (SKIP.has(n) || n.startsWith('.')) continue;
        const rel = `${top}/${n}`;
        const isDir = statSync(join(dir, n)).isDirectory();
        if (isDir) add({ id: `intake-dir-${slug(rel)}`, title: `Work in ${rel}`, source: 'folder', candidate_owned_paths: [`${rel}/**`], candidate_depends_on: [] });
      }
    }
  }
  const markers = git(root, ['grep', '-n', '-I', '-E', '(TODO|FIXME)[:( ]', '--', '.', ':!project-plan']) ?? '';
  for (const l of markers.split('\n').filter(Boolean).slice(0, 100)) {
    const m = /^([^:]+):(\d+):(.*)$/.exec(l);
    if (!m) continue;
    const [, file, line, text] = m as unknown as [string, string, string, string];
    const what = text.replace(/^.*?(TODO|FIXME)[:( ]?\s*/, '$1: ').trim().slice(0, 120);
    const owner = pkgs.filter((p) => file.startsWith(`${p.dir}/`)).sort((a, b) => b.dir.length - a.dir.length)[0];
    add({ id: `intake-todo-${slug(file)}-${line}`.slice(0, 64).replace(/-+$/, ''), title: `${what} (${file}:${line})`, source: 'marker', candidate_owned_paths: [file], candidate_depends_on: owner ? [`intake-pkg-${slug(owner.dir)}`] : [] });
  }
  const recent = git(root, ['log', '-n', '30', '--name-only', '--pretty=format:']) ?? '';
  const areas = new Map<string, number>();
  for (const f of recent.split('\n').filter((x) => x && !x.startsWith('project-plan/'))) {
    const area = f.includes('/') ? f.split('/').slice(0, 2).join('/') : f;
    areas.set(area, (areas.get(area) ?? 0) + 1);
  }
  for (const [area, n] of [...areas].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5)) {
    if ([...out.values()].some((c) => c.candidate_owned_paths.some((p) => p === `${area}/**` || p === area))) continue;
    add({ id: `intake-recent-${slug(area)}`, title: `Recently active: ${area} (${n} change(s) in the last 30 commits)`, source: 'recent', candidate_owned_paths: [existsSync(join(root, area)) && statSync(join(root, area)).isDirectory() ? `${area}/**` : area], candidate_depends_on: [] });
  }
  return [...out.values()].map((c) => ({ ...c, id: checkId(c.id.slice(0, 64).replace(/[-.]+$/, ''), 'task id') }));
}

export async function run(o: { seed?: boolean }, ctx: Ctx): Promise<IntakeResult> {
  const root = dirname(boardDir(ctx));
  const candidates = scan(root);
  if (!o.seed) {
    const { state } = await load(ctx);
    return { revision: state.revision, candidates, seeded: [] };
  }
  const archived = archiveIds(boardDir(ctx));
  const r = await mutate(ctx, (tx) => {
    const seeded: TaskJson[] = [];
    for (const c of candidates) {
      // On the board already, or archived (an id is never used twice).
      if (tx.state.tasks[c.id] || archived.has(c.id)) continue;
      const t = createTask(tx, { id: c.id, title: c.title, priority: 3, labels: ['intake'], candidate_owned_paths: c.candidate_owned_paths, candidate_depends_on: c.candidate_depends_on.filter((d) => candidates.some((x) => x.id === d)) });
      tx.emit({ type: 'task.created', task: t.id, data: { title: t.title, source: 'intake' } });
      seeded.push(toTaskJson(t));
    }
    return seeded.map((t) => t.id);
  });
  return { revision: r.revision, candidates, seeded: r.value };
}

export function renderIntake(r: IntakeResult, seeding = false): string {
  const lines = r.candidates.map((c) => `${c.id.padEnd(36)} ${c.source.padEnd(8)} ${c.title.slice(0, 70)}${c.candidate_depends_on.length ? `  (after ${c.candidate_depends_on.join(', ')})` : ''}`);
  if (!r.candidates.length) lines.push('Nothing found to suggest.');
  else if (r.seeded.length) lines.push(`Seeded ${r.seeded.length} task(s) with candidate paths and dependencies; confirm them with baton edit ID --confirm-paths --confirm-deps.`);
  else lines.push(seeding ? 'All of them are on the board already.' : 'Add them with baton intake --seed.');
  return lines.join('\n');
}
