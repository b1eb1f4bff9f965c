import { findArchived } from '../store/archivefiles.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { invalidInput } from '../rules/errors.js';
import { asShellInCode, shellBaton } from '../rules/shellword.js';
import { routeOf } from './launch.js';
import { checkId } from '../rules/ids.js';
import { getTask } from '../rules/taskmodel.js';
import type { Config, State } from '../rules/types.js';

const ROLES = ['worker', 'reviewer', 'orchestrator'] as const;
export type PromptRole = (typeof ROLES)[number];

export function checkPromptRole(role: string): PromptRole {
  const r = role.toLowerCase();
  if (!(ROLES as readonly string[]).includes(r)) throw invalidInput(`Unknown role '${role}': worker, reviewer or orchestrator.`);
  return r as PromptRole;
}

/**
 * The role's prompt (`prompt ROLE`, and the file a spawned agent starts from): the board's copy
 * in project-plan/templates/prompts/ wins over the package's.
 */
export function renderRolePrompt(board: { dir: string; state: State; config: Config }, packageRoot: string, role: PromptRole, taskId: string | undefined): { role: string; source: string; prompt: string } {
  const { dir, state, config } = board;
  const override = join(dir, 'templates', 'prompts', `${role}.md`);
  const source = existsSync(override) ? override : join(packageRoot, 'templates', 'prompts', `${role}.md`);
  const template = readFileSync(source, 'utf8');
  let taskSection = '';
  if (taskId !== undefined) {
    const id = checkId(taskId, 'task id');
    // An archived task still resolves (its prompt says what it was).
    const t = state.tasks[id] ?? findArchived(dir, id)?.task ?? getTask(state, id);
    taskSection = [
      `## Your task: ${t.id}`,
      '',
      t.title,
      '',
      t.description ?? '',
      t.owned_paths.length ? `Owned paths: ${t.owned_paths.join(', ')}` : '',
      t.depends_on.length ? `Builds on: ${t.depends_on.join(', ')}` : '',
      `Details and history: baton show ${t.id}`,
    ]
      .filter((l, i, a) => l !== '' || a[i - 1] !== '')
      .join('\n');
  }
  const canonical = Object.values(state.sessions).find((s) => s.canonical === true && !s.ended_at);
  const fields: Record<string, string> = {
    project: config.name || state.board.name,
    board: dir,
    role,
    lease: String(config.lease_ttl_seconds),
    orchestrator: `\`baton send --to orchestrator "…"\`${canonical ? ` reaches ${canonical.agent} (session ${canonical.id})` : ''}; its answers arrive in \`baton inbox\`.`,
    task: taskSection,
  };
  const text = `${template.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => fields[k] ?? '').trimEnd()}\n`;
  // Every command as the agent's shell runs it (`npx baton-board …` where the project has baton).
  return { role, source, prompt: asShellInCode(text, shellBaton(routeOf(dirname(dir)))) };
}
