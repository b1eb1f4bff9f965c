import type { Config, State } from '../core/types.js';
import { stableStringify, cmp } from '../core/json.js';
import { GENERATED_NOTE, mdCode, mdTable, mdText } from './markdown.js';
import { renderStatusMd } from './status.js';

type Rec = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));

function renderAgentsMd(state: State): string {
  const agents = Object.values(state.agents) as Rec[];
  const out = [GENERATED_NOTE, '', '# Agents', ''];
  if (agents.length === 0) {
    out.push('_No agent has joined yet. Start with `baton join --name NAME --role worker`._');
  } else {
    const held = new Map<string, string[]>();
    for (const t of Object.values(state.tasks)) if (t.assignee && !['done', 'cancelled'].includes(t.status)) held.set(t.assignee, [...(held.get(t.assignee) ?? []), t.id]);
    out.push(
      mdTable(
        ['agent', 'name', 'role', 'specialties', 'holds'],
        agents
          .sort((a, b) => cmp(str(a.id), str(b.id)))
          .map((a) => [
            mdCode(str(a.id)),
            mdText(str(a.name)),
            mdText(str(a.role)),
            mdText(Array.isArray(a.specialties) ? a.specialties.join(', ') : ''),
            (held.get(str(a.id)) ?? []).sort().map(mdCode).join(', ') || '—',
          ]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

function renderSessionsMd(state: State): string {
  const sessions = Object.values(state.sessions) as Rec[];
  const out = [GENERATED_NOTE, '', '# Sessions', ''];
  if (sessions.length === 0) out.push('_No sessions yet._');
  else {
    out.push(
      mdTable(
        ['session', 'agent', 'host', 'window', 'parent', 'started', 'ended'],
        sessions
          .sort((a, b) => cmp(str(a.id), str(b.id)))
          .map((s) => [mdCode(str(s.id)), mdText(str(s.agent)), mdText(str(s.host)), mdText(str(s.window)), s.parent ? mdCode(str(s.parent)) : '—', str(s.started_at), str(s.ended_at) || '—']),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

function renderHandoffsMd(state: State): string {
  const open = Object.values(state.handoffs) as Rec[];
  const out = [GENERATED_NOTE, '', '# Handoffs', ''];
  if (open.length === 0) out.push('_No handoffs waiting._');
  else {
    out.push(
      mdTable(
        ['task', 'from', 'to', 'at', 'bundle'],
        open
          .sort((a, b) => cmp(str(a.task), str(b.task)))
          .map((h) => [mdCode(str(h.task)), mdText(str(h.from)), mdText(str(h.to)), str(h.at), `[bundle](handoffs/${str(h.task)}.handoff.md)`]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

function renderNotificationsMd(): string {
  return `${[GENERATED_NOTE, '', '# Notifications', '', '_No notifications._'].join('\n')}\n`;
}

/** Every generated file of the board, by name relative to the board directory. */
export function renderProjections(state: State, config: Config): Map<string, string> {
  return new Map([
    ['STATUS.md', renderStatusMd(state, config)],
    ['AGENTS.md', renderAgentsMd(state)],
    ['SESSIONS.md', renderSessionsMd(state)],
    ['HANDOFFS.md', renderHandoffsMd(state)],
    ['NOTIFICATIONS.md', renderNotificationsMd()],
    ['handoff-index.json', stableStringify({ generated_by: 'baton render', handoffs: Object.values(state.handoffs) })],
  ]);
}
