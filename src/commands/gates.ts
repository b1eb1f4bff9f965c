import { BatonError, invalidInput } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import { onFinished } from '../core/lifecycle.js';
import { getTask, moveTask, type TaskJson, toTaskJson } from '../core/tasks.js';
import type { Tx } from '../core/tx.js';
import type { Task } from '../core/types.js';
import { type Ctx, mutate } from './context.js';
import { parseMatch } from './tasks.js';

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

/**
 * Does a signal satisfy a gate? Every field the gate asks for must be in the signal with the
 * same value. A gate that asks for nothing matches no broad signal (only `signal ID`).
 */
export function gateMatches(gate: Task['gate'], type: string, match: Record<string, string>): boolean {
  if (!gate || gate.type !== type) return false;
  const wanted = Object.entries(gate.match);
  return wanted.length > 0 && wanted.every(([k, v]) => match[k] === v);
}

function resolve(tx: Tx, gate: Task, outcome: 'success' | 'failure', signal: Record<string, unknown>): void {
  if (outcome === 'success') {
    moveTask(tx, gate, 'done', { type: 'gate.resolved', data: signal, notify: { targets: ['orchestrator'], kind: 'gate-resolved', priority: 'normal' } });
    onFinished(tx, gate);
  } else {
    const reason = `${String(signal.type)} signal failed${signal.notes ? `: ${String(signal.notes)}` : ''}`;
    moveTask(tx, gate, 'blocked', { type: 'gate.failed', data: signal, notify: { targets: ['orchestrator', 'all'], kind: 'blocker', priority: 'high' } });
    gate.blocked = { at: tx.now, previous: 'waiting', reason };
  }
}

export async function signal(rawId: string | undefined, o: SignalOptions, ctx: Ctx): Promise<SignalResult> {
  const outcome = (o.outcome ?? '').toLowerCase();
  if (outcome !== 'success' && outcome !== 'failure') throw invalidInput('--outcome must be success or failure.', 'baton signal --type ci --match repo=web,pr=42 --outcome success');
  const id = rawId === undefined ? null : checkId(rawId, 'task id');
  if (!id && !o.type) throw invalidInput('Say which gates: --type T --match k=v,… (or a gate id: baton signal ID --outcome …).');
  const type = o.type === undefined ? null : checkId(o.type, 'signal type');
  const match = parseMatch(o.match);
  const notes = o.notes ?? null;
  const r = await mutate(ctx, (tx) => {
    const signalData = { type, match, outcome, notes };
    let gates: Task[];
    if (id) {
      const gate = getTask(tx.state, id);
      if (gate.kind !== 'gate') throw new BatonError('INVALID_TRANSITION', `${id} is a ${gate.kind}, not a gate.`, { hint: `baton show ${id}`, details: { task: id, from: gate.status, to: 'done' } });
      if (gate.status !== 'waiting') throw new BatonError('INVALID_TRANSITION', `Gate ${id} is ${gate.status}, not waiting for a signal.`, { hint: `baton show ${id}`, details: { task: id, from: gate.status, to: outcome === 'success' ? 'done' : 'blocked' } });
      if (type && gate.gate?.type !== type) throw invalidInput(`Gate ${id} waits for a ${gate.gate?.type} signal, not ${type}.`);
      gates = [gate];
    } else {
      gates = Object.values(tx.state.tasks)
        .filter((t) => t.kind === 'gate' && t.status === 'waiting' && gateMatches(t.gate, type!, match))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
    }
    // The signal itself is recorded even when it resolves nothing: CI wiring is debugged from the log.
    tx.emit({ type: 'signal.received', data: { ...signalData, gates: gates.map((g) => g.id) } });
    for (const g of gates) resolve(tx, g, outcome, { ...signalData, type: type ?? g.gate?.type });
    return gates.map(toTaskJson);
  });
  return { revision: r.revision, outcome: outcome as 'success' | 'failure', resolved: r.value };
}

export const renderSignal = (r: SignalResult) =>
  r.resolved.length ? `${r.outcome === 'success' ? 'Resolved' : 'Failed'}: ${r.resolved.map((t) => t.id).join(', ')}.` : 'No waiting gate matched (the signal was recorded).';
