import * as z from 'zod/mini';
import { sha256 } from '../rules/digest.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { checkId } from '../rules/ids.js';
import type { Task } from '../rules/types.js';
import {
  checkDepsExist,
  checkDescription,
  checkLabels,
  checkParent,
  checkPaths,
  checkSpecialty,
  checkTitle,
  createTask,
  findCycles,
  moveTask,
  parseEstimate,
  parseKind,
  parsePriority,
  parseStatus,
  spellCycle,
} from '../rules/taskmodel.js';
import { archiveIds } from '../store/archivefiles.js';
import { boardDir, type Ctx, mutate, readFileArg } from './context.js';

/** One plan entry. Either spelling of a field is accepted (YAML plans are written by hand). */
const list = z.union([z.array(z.string()), z.pipe(z.string(), z.transform((s: string) => s.split(',').map((x) => x.trim()).filter(Boolean)))]);
const opt = z.optional;
const EntrySchema = z.strictObject({
  id: opt(z.string()),
  title: opt(z.string()),
  description: opt(z.nullable(z.string())),
  kind: opt(z.string()),
  status: opt(z.string()),
  priority: opt(z.union([z.string(), z.number()])),
  specialty: opt(z.nullable(z.string())),
  depends_on: opt(list),
  owned_paths: opt(list),
  paths: opt(list),
  estimate: opt(z.union([z.string(), z.number()])),
  labels: opt(list),
  parent: opt(z.nullable(z.string())),
  review: opt(z.boolean()),
  review_required: opt(z.nullable(z.boolean())),
  gate: opt(z.nullable(z.object({ type: z.string(), match: opt(z.record(z.string(), z.union([z.string(), z.number()]))) }))),
});
type Entry = z.infer<typeof EntrySchema>;

const PlanSchema = z.union([z.array(z.unknown()), z.looseObject({ tasks: z.array(z.unknown()) })]);

export interface ImportResult {
  revision: number;
  created: string[];
  updated: string[];
  unchanged: string[];
  /** Entries naming archived tasks: left as they are (an archived task can't change, and its id is never reused). */
  archived: string[];
}

/** An id for an entry without one, derived from its title so re-importing the file is idempotent. */
export function idFromTitle(title: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return slug || `t-${sha256(title).slice(0, 8)}`;
}

const readPlan = (file: string, ctx: Ctx): { text: string; name: string } => readFileArg(file, ctx, "the plan's");

async function parsePlan(text: string, name: string): Promise<unknown[]> {
  let raw: unknown;
  if (/\.json$/i.test(name) || /^\s*[[{]/.test(text)) {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw invalidInput(`${name} is not valid JSON: ${(e as Error).message}.`);
    }
  } else {
    const doc = (await import('../rules/yaml.js')).parseYaml(text);
    if (!doc.ok) throw invalidInput(`${name} is not valid YAML: ${doc.message}.`, undefined, { file: name });
    raw = doc.value;
  }
  const plan = PlanSchema.safeParse(raw);
  if (!plan.success) throw invalidInput(`${name}: expected a list of tasks, or an object with a 'tasks' list.`);
  return Array.isArray(plan.data) ? plan.data : plan.data.tasks;
}

interface CheckedEntry {
  id: string;
  fields: Partial<Task>;
  status: Task['status'] | undefined;
  depends_on: string[] | undefined;
  parent: string | null | undefined;
}

function checkEntry(raw: unknown, index: number): CheckedEntry {
  const label = (id?: string) => `entry ${index + 1}${id ? ` (${id})` : ''}`;
  const parsed = EntrySchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    const id = typeof (raw as Entry | null)?.id === 'string' ? (raw as Entry).id : undefined;
    throw invalidInput(`${label(id)}: ${i.path.join('.') || 'entry'}: ${i.message}.`, undefined, { entry: index + 1 });
  }
  const e = parsed.data;
  try {
    if (e.id === undefined && e.title === undefined) throw invalidInput('an entry needs an id (to update a task) or a title (to make one).');
    const id = e.id !== undefined ? checkId(e.id, 'task id') : idFromTitle(checkTitle(e.title!));
    const kind = e.kind === undefined ? undefined : parseKind(e.kind);
    const status = e.status === undefined ? undefined : parseStatus(e.status);
    if (status && !['todo', 'done', 'cancelled', 'waiting'].includes(status)) {
      throw invalidInput(`status '${status}' can't be imported: a plan sets todo, done or cancelled; agents' commands set the rest.`);
    }
    const paths = e.owned_paths ?? e.paths;
    const fields: Partial<Task> = {
      title: e.title === undefined ? undefined : checkTitle(e.title),
      description: e.description === undefined ? undefined : e.description === null ? null : checkDescription(e.description),
      kind,
      priority: e.priority === undefined ? undefined : parsePriority(e.priority),
      specialty: e.specialty === undefined ? undefined : checkSpecialty(e.specialty),
      owned_paths: paths === undefined ? undefined : checkPaths(paths),
      estimate: e.estimate === undefined ? undefined : parseEstimate(e.estimate),
      labels: e.labels === undefined ? undefined : checkLabels(e.labels),
      review_required: e.review_required !== undefined ? e.review_required : e.review,
      gate:
        e.gate === undefined
          ? undefined
          : e.gate === null
            ? null
            : { type: checkId(e.gate.type, 'gate type'), match: Object.fromEntries(Object.entries(e.gate.match ?? {}).map(([k, v]) => [k, String(v)])) },
    };
    return {
      id,
      fields,
      status,
      depends_on: e.depends_on?.map((d) => checkId(d, 'dependency id')),
      parent: e.parent === undefined ? undefined : e.parent === null ? null : checkId(e.parent, 'parent id'),
    };
  } catch (err) {
    if (err instanceof BatonError) {
      throw new BatonError(err.code, `${label(e.id)}: ${err.message}`, { hint: err.hint ?? undefined, details: { ...err.details, entry: index + 1 } });
    }
    throw err;
  }
}

export async function run(file: string, ctx: Ctx): Promise<ImportResult> {
  const { text, name } = readPlan(file, ctx);
  // An idempotency key names this plan's content, not only its file name.
  if (ctx.call !== undefined) ctx.call = sha256(`${ctx.call}\n${text}`).slice(0, 32);
  const entries = (await parsePlan(text, name)).map(checkEntry);
  const ids = new Set<string>();
  for (const [i, e] of entries.entries()) {
    if (ids.has(e.id)) throw invalidInput(`entry ${i + 1} (${e.id}): the id appears twice in ${name}.`, undefined, { entry: i + 1 });
    ids.add(e.id);
  }
  const archive = archiveIds(boardDir(ctx));
  const known = { has: (id: string) => ids.has(id) || archive.has(id) };
  const r = await mutate(ctx, (tx) => {
    const out: Omit<ImportResult, 'revision'> = { created: [], updated: [], unchanged: [], archived: [] };
    for (const [i, e] of entries.entries()) {
      const where = (msg: string) => `entry ${i + 1} (${e.id}): ${msg}`;
      try {
        const existing = tx.state.tasks[e.id];
        if (!existing && archive.has(e.id)) {
          out.archived.push(e.id);
          continue;
        }
        const depends_on = e.depends_on && checkDepsExist(tx.state, e.id, e.depends_on, known);
        const parent = e.parent === undefined ? undefined : checkParent(tx.state, e.id, e.parent, known);
        if (!existing) {
          if (e.fields.title === undefined) throw invalidInput(`there is no task ${e.id} to update, and a new task needs a title.`);
          const t = createTask(tx, { ...(e.fields as Parameters<typeof createTask>[1]), title: e.fields.title!, id: e.id, depends_on, parent, status: e.status });
          tx.emit({ type: 'task.created', task: t.id, data: { title: t.title, source: 'import' } });
          out.created.push(e.id);
          continue;
        }
        const patch: Partial<Task> = { ...e.fields, depends_on, parent };
        const changes: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(patch) as [keyof Task, unknown][]) {
          if (v === undefined || JSON.stringify(existing[k]) === JSON.stringify(v)) continue;
          changes[k] = v;
        }
        const to = e.status && e.status !== existing.status ? e.status : null;
        const fields = [...Object.keys(changes), ...(to ? ['status'] : [])].sort();
        if (fields.length === 0) {
          out.unchanged.push(e.id);
          continue;
        }
        Object.assign(existing, changes);
        const why = { type: 'task.updated', data: { fields, source: 'import' } };
        if (to) moveTask(tx, existing, to, why);
        else {
          tx.touch(existing);
          tx.emit({ ...why, task: e.id });
        }
        out.updated.push(e.id);
      } catch (err) {
        if (err instanceof BatonError) {
          throw new BatonError(err.code, where(err.message), { hint: err.hint ?? undefined, details: { ...err.details, entry: i + 1 } });
        }
        throw err;
      }
    }
    const cycle = findCycles(tx.state, 1)[0];
    if (cycle) {
      throw new BatonError('DEPENDENCY_CYCLE', `${name} makes a dependency cycle: ${spellCycle(cycle)}.`, { details: { cycle } });
    }
    return out;
  });
  return { revision: r.revision, ...r.value };
}

export function renderText(r: ImportResult): string {
  return `Imported: ${r.created.length} created, ${r.updated.length} updated, ${r.unchanged.length} unchanged${r.archived.length ? `, ${r.archived.length} archived (left as they are)` : ''} (revision ${r.revision}).`;
}
