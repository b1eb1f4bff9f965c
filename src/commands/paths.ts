import { gitOrNull as git } from '../store/gitrun.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { checkId } from '../rules/ids.js';
import { ownsPath } from '../rules/ownedpaths.js';
import { IN_FLIGHT } from '../rules/vocabulary.js';
import { checkPaths, getTask, type TaskJson, toTaskJson } from '../rules/taskmodel.js';
import { type Ctx, load, mutate } from './context.js';

export interface PathsCheckResult {
  revision: number;
  paths: { path: string; held_by: { task: string; status: string; agent: string | null; owned: string }[] }[];
}

/** Who holds each path: tasks in flight whose owned paths cover it. */
export async function check(paths: string[], ctx: Ctx): Promise<PathsCheckResult> {
  if (!paths.length) throw invalidInput('Name at least one path: baton paths check src/api/users.ts.');
  const wanted = checkPaths(paths);
  const { state } = await load(ctx);
  const inFlight = Object.values(state.tasks).filter((t) => IN_FLIGHT.has(t.status) && t.owned_paths.length);
  return {
    revision: state.revision,
    paths: wanted.map((path) => ({
      path,
      held_by: inFlight.flatMap((t) =>
        t.owned_paths.filter((g) => ownsPath(g, path)).slice(0, 1).map((owned) => ({ task: t.id, status: t.status, agent: t.status === 'in_review' ? t.reviewer : t.assignee, owned })),
      ),
    })),
  };
}

export function renderCheck(r: PathsCheckResult): string {
  return r.paths
    .map((p) => (p.held_by.length ? `${p.path}: held by ${p.held_by.map((h) => `${h.task} (${h.agent ?? h.status}, via ${h.owned})`).join(', ')}` : `${p.path}: free`))
    .join('\n');
}

/** Files changed on this branch since it left the default branch, plus uncommitted ones. */
export function changedFiles(cwd: string): string[] {
  if (git(cwd, ['rev-parse', '--is-inside-work-tree'])?.trim() !== 'true') {
    throw new BatonError('INVALID_INPUT', 'Not inside a git work tree: paths infer reads the changes on the current branch.', { hint: 'run it from the repository, or set paths with baton edit ID --paths' });
  }
  const files = new Set<string>();
  let base: string | null = null;
  for (const ref of ['origin/HEAD', 'origin/main', 'origin/master', 'main', 'master']) {
    const mb = git(cwd, ['merge-base', 'HEAD', ref])?.trim();
    const head = git(cwd, ['rev-parse', 'HEAD'])?.trim();
    if (mb && mb !== head) {
      base = mb;
      break;
    }
  }
  if (base) for (const f of (git(cwd, ['diff', '--name-only', base, 'HEAD']) ?? '').split('\n')) if (f) files.add(f);
  for (const line of (git(cwd, ['status', '--porcelain', '--untracked-files=all']) ?? '').split('\n')) {
    const f = line.slice(3).split(' -> ').pop();
    if (f && !f.startsWith('project-plan/')) files.add(f.replace(/^"|"$/g, ''));
  }
  return [...files].filter((f) => !f.startsWith('project-plan/')).sort();
}

export async function infer(rawId: string, ctx: Ctx): Promise<{ revision: number; task: TaskJson; inferred: string[] }> {
  const id = checkId(rawId, 'task id');
  const inferred = checkPaths(changedFiles(ctx.cwd).slice(0, 200));
  const r = await mutate(ctx, (tx) => {
    const task = getTask(tx.state, id);
    const merged = [...new Set([...task.candidate_owned_paths, ...inferred])].sort();
    if (JSON.stringify(merged) !== JSON.stringify(task.candidate_owned_paths)) {
      task.candidate_owned_paths = merged;
      tx.touch(task);
      tx.emit({ type: 'task.paths_inferred', task: id, data: { candidate_owned_paths: merged } });
    }
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value, inferred };
}

export const renderInfer = (r: { task: TaskJson; inferred: string[] }) =>
  r.inferred.length
    ? `Candidate paths for ${r.task.id}: ${r.task.candidate_owned_paths.join(', ')}\nConfirm with: baton edit ${r.task.id} --confirm-paths`
    : `No changed files on this branch: nothing to infer for ${r.task.id}.`;
