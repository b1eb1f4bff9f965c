import { BatonError, invalidInput } from './errors.js';
import { onFinished } from './lifecycle.js';
import { getTask, moveTask } from './taskmodel.js';
import type { Tx } from './change.js';
import type { Task } from './types.js';

/** A signal as `baton signal` records it: a gate type, match fields, the outcome, notes. */
export interface Signal {
  type: string | null;
  match: Record<string, string>;
  outcome: 'success' | 'failure';
  notes: string | null;
}

/**
 * Does a signal satisfy a gate? Every field the gate asks for must be in the signal with the
 * same value. A gate that asks for nothing matches no broad signal (only `signal ID`).
 */
function gateMatches(gate: Task['gate'], type: string, match: Record<string, string>): boolean {
  if (!gate || gate.type !== type) return false;
  const wanted = Object.entries(gate.match);
  return wanted.length > 0 && wanted.every(([k, v]) => match[k] === v);
}

/** Success resolves a waiting gate (done, which may unblock tasks); failure blocks it and tells everyone. */
function resolveGate(tx: Tx, gate: Task, outcome: 'success' | 'failure', signal: Record<string, unknown>): void {
  if (outcome === 'success') {
    moveTask(tx, gate, 'done', { type: 'gate.resolved', data: signal, notify: { targets: ['orchestrator'], kind: 'gate-resolved', priority: 'normal' } });
    onFinished(tx, gate);
  } else {
    const reason = `${String(signal.type)} signal failed${signal.notes ? `: ${String(signal.notes)}` : ''}`;
    moveTask(tx, gate, 'blocked', { type: 'gate.failed', data: signal, notify: { targets: ['orchestrator', 'all'], kind: 'blocker', priority: 'high' } });
    gate.blocked = { at: tx.now, previous: 'waiting', reason };
  }
}

/**
 * Applies a signal (SPEC Gates and signals): to the one gate `id` names, or to every waiting
 * gate of its type whose match fields all agree. Returns the gates it resolved or failed.
 */
export function applySignal(tx: Tx, id: string | null, signal: Signal): Task[] {
  const { type, match, outcome } = signal;
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
  tx.emit({ type: 'signal.received', data: { ...signal, gates: gates.map((g) => g.id) } });
  for (const g of gates) resolveGate(tx, g, outcome, { ...signal, type: type ?? g.gate?.type });
  return gates;
}
