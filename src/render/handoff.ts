// The bundle's layout is templates/handoff.md, compiled in (esbuild's text loader; vitest's ?raw).
import TEMPLATE from '../../templates/handoff.md?raw';
import type { Handoff, Task } from '../rules/types.js';
import { GENERATED_NOTE, mdCode, mdText } from './markdown.js';

const block = (s: string) => s.replace(/```/g, "'''");

/** handoffs/<task>.handoff.md: a pure function of the handoff record and its task. */
export function renderHandoffBundle(h: Handoff, task: Task | undefined): string {
  const notes = task?.notes ?? [];
  const fields: Record<string, string> = {
    generated: GENERATED_NOTE,
    task: mdCode(h.task),
    title: mdText(task?.title ?? '(task removed)', 200),
    from: mdCode(h.from),
    to: mdCode(h.to),
    at: h.at,
    state: h.state === 'open' ? 'waiting for a taker' : `taken by ${h.taken_by} at ${h.taken_at}`,
    notes: mdText(h.notes, 4000),
    done: notes.length ? notes.map((n) => `- ${n.at} ${n.author ?? ''}: ${mdText(n.text, 1000)}`).join('\n') : '_No notes were recorded on the task._',
    left: task?.description ? mdText(task.description, 4000) : '_The task has no description; see the notes above._',
    paths: task?.owned_paths.length ? task.owned_paths.map((p) => `- ${mdCode(p.replace(/`/g, ''))}`).join('\n') : '_None declared._',
    branch: h.branch ? mdCode(h.branch.replace(/`/g, '')) : '_Not in a git repository._',
    diff_stat: block(h.diff_stat ?? '(no diff)'),
    events: h.recent.length ? h.recent.map((e) => `- #${e.seq} ${e.ts} ${e.type}${e.actor ? ` by ${mdCode(e.actor)}` : ''}`).join('\n') : '_None._',
    commands: [`baton handoff take ${h.task}`, `baton show ${h.task}`, `baton handoff ack ${h.task}    # read it but leave it for someone else`].join('\n'),
  };
  return `${TEMPLATE.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => fields[k] ?? '').trimEnd()}\n`;
}
