import { invalidInput } from '../rules/errors.js';
import { applySignal } from '../rules/signals.js';
import { checkId } from '../rules/ids.js';
import { parseMatch, type TaskJson, toTaskJson } from '../rules/taskmodel.js';
import { type Ctx, mutate } from './context.js';

export interface SignalOptions {
  type?: string;
  match?: string;
  outcome?: string;
  notes?: string;
}

export interface SignalResult {
  revision: number;
  outcome: 'success' | 'failure';
  resolved: TaskJson[];
}

export async function signal(rawId: string | undefined, o: SignalOptions, ctx: Ctx): Promise<SignalResult> {
  const outcome = (o.outcome ?? '').toLowerCase();
  if (outcome !== 'success' && outcome !== 'failure') throw invalidInput('--outcome must be success or failure.', 'baton signal --type ci --match repo=web,pr=42 --outcome success');
  const id = rawId === undefined ? null : checkId(rawId, 'task id');
  if (!id && !o.type) throw invalidInput('Say which gates: --type T --match k=v,… (or a gate id: baton signal ID --outcome …).');
  const type = o.type === undefined ? null : checkId(o.type, 'signal type');
  const match = parseMatch(o.match);
  const notes = o.notes ?? null;
  const r = await mutate(ctx, (tx) => applySignal(tx, id, { type, match, outcome, notes }).map(toTaskJson));
  return { revision: r.revision, outcome, resolved: r.value };
}

export const renderSignal = (r: SignalResult) =>
  r.resolved.length ? `${r.outcome === 'success' ? 'Resolved' : 'Failed'}: ${r.resolved.map((t) => t.id).join(', ')}.` : 'No waiting gate matched (the signal was recorded).';
