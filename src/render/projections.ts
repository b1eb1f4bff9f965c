import type { BatonEvent, Config, State } from '../rules/types.js';
import { appendTo, stableStringify, cmp } from '../rules/json.js';
import { boardView } from '../rules/rank.js';
import { IN_FLIGHT } from '../rules/vocabulary.js';
import { GENERATED_NOTE, mdCode, mdTable, mdText, utcMinute } from './markdown.js';
import { replacedSessions } from '../rules/sessions.js';
import { renderHandoffBundle } from './handoff.js';
import { type ArchiveView, NO_ARCHIVE, renderStatusMd } from './status.js';


interface Holdings {
  byAgent: Map<string, string[]>;
  bySession: Map<string, string[]>;
}
const held = new WeakMap<State, Holdings>();

/**
 * What each agent holds, and each session's leases: work in flight, with absolute expiry times.
 * Of a frozen state (a render's), worked out once from its board view.
 */
function holdings(state: State): Holdings {
  const frozen = Object.isFrozen(state);
  const kept = frozen ? held.get(state) : undefined;
  if (kept) return kept;
  const byAgent = new Map<string, string[]>();
  const bySession = new Map<string, string[]>();
  const all = frozen ? boardView(state).all : Object.values(state.tasks);
  for (const t of all.filter((x) => IN_FLIGHT.has(x.status)).sort((a, b) => cmp(a.id, b.id))) {
    const who = t.status === 'in_review' ? t.reviewer : t.assignee;
    const label = `${mdCode(t.id)} ${t.status}${t.lease ? ` until ${utcMinute(t.lease.expires_at)}` : ''}`;
    if (who) appendTo(byAgent, who, label);
    if (t.lease) appendTo(bySession, t.lease.session, `${mdCode(t.id)} until ${utcMinute(t.lease.expires_at)}`);
  }
  if (frozen) held.set(state, { byAgent, bySession });
  return { byAgent, bySession };
}

function renderAgentsMd(state: State, replaced: ReadonlyMap<string, string>): string {
  const agents = Object.values(state.agents).sort((a, b) => cmp(a.id, b.id));
  const out = [GENERATED_NOTE, '', '# Agents', ''];
  if (agents.length === 0) {
    out.push('_No agent has joined yet. Start with `baton join --name NAME --role worker`._');
  } else {
    const { byAgent } = holdings(state);
    const sessions = new Map<string, number>();
    for (const s of Object.values(state.sessions)) if (!s.ended_at && !replaced.has(s.id)) sessions.set(s.agent, (sessions.get(s.agent) ?? 0) + 1);
    out.push(
      'Times in UTC. An agent is a name on a host; its name shows only where it differs from its id (a second agent of one name on another host).',
      '',
      mdTable(
        ['agent', 'role', 'specialties', 'host', 'open sessions', 'holds', 'last seen'],
        agents.map((a) => [
          `${mdCode(a.id)}${a.name !== a.id ? ` (${mdText(a.name)})` : ''}`,
          a.role,
          a.specialties.map(mdCode).join(', ') || '—',
          mdText(a.host),
          String(sessions.get(a.id) ?? 0),
          (byAgent.get(a.id) ?? []).join('<br>') || '—',
          utcMinute(a.last_seen_at),
        ]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

/**
 * SESSIONS.md: the open sessions a newer one of the same agent did not replace (replacedSessions),
 * and how many others there are; `baton sessions --all` lists every one.
 */
function renderSessionsMd(state: State, replaced: ReadonlyMap<string, string>): string {
  const all = Object.values(state.sessions).sort((a, b) => cmp(a.started_at, b.started_at) || cmp(a.id, b.id));
  const open = all.filter((s) => !s.ended_at && !replaced.has(s.id));
  const ended = all.filter((s) => s.ended_at).length;
  const out = [GENERATED_NOTE, '', '# Sessions', ''];
  if (all.length === 0) out.push('_No sessions yet._');
  else {
    const { bySession } = holdings(state);
    out.push('Open sessions, times in UTC. A session with no heartbeat for `session_ttl_seconds` is stale and `baton reap` ends it.', '');
    out.push(
      open.length
        ? mdTable(
            ['session', 'agent', 'role', 'host / window', 'parent', 'started', 'last heartbeat', 'leases'],
            open.map((s) => [
              mdCode(s.id),
              mdCode(s.agent),
              s.role,
              `${mdText(s.host)}${s.window ? ` / ${mdText(s.window)}` : ''}`,
              s.parent ? mdCode(s.parent) : '—',
              utcMinute(s.started_at),
              utcMinute(s.heartbeat_at),
              (bySession.get(s.id) ?? []).join('<br>') || '—',
            ]),
          )
        : '_No open session._',
    );
    const rest = [replaced.size ? `${replaced.size} replaced by a newer session of the same agent on the same host` : '', ended ? `${ended} ended` : ''].filter(Boolean);
    if (rest.length) out.push('', `Not shown: ${rest.join(', ')}. \`baton sessions --all\` lists them.`);
  }
  return `${out.join('\n')}\n`;
}

function renderHandoffsMd(state: State): string {
  const all = Object.values(state.handoffs).sort((a, b) => cmp(a.at, b.at) || cmp(a.task, b.task));
  const open = all.filter((h) => h.state === 'open');
  const taken = all.filter((h) => h.state === 'taken').slice(-20).reverse();
  const out = [GENERATED_NOTE, '', '# Handoffs', ''];
  out.push('## Waiting for a taker', '');
  out.push(
    open.length
      ? mdTable(
          ['task', 'title', 'from', 'to', 'at', 'read by', 'bundle'],
          open.map((h) => [mdCode(h.task), mdText(state.tasks[h.task]?.title ?? ''), mdCode(h.from), mdCode(h.to), h.at, h.acked_by.map(mdCode).join(', ') || '—', `[bundle](handoffs/${h.task}.handoff.md)`]),
        )
      : '_No handoffs waiting._',
    '',
  );
  out.push('## Recently taken', '');
  out.push(
    taken.length
      ? mdTable(['task', 'from', 'taken by', 'at'], taken.map((h) => [mdCode(h.task), mdCode(h.from), h.taken_by ? mdCode(h.taken_by) : '—', h.taken_at ?? '—']))
      : '_None._',
  );
  return `${out.join('\n')}\n`;
}

/** The newest actionable notifications (events carrying `notify`), grouped by target. */
function renderNotificationsMd(recent: BatonEvent[]): string {
  const out = [GENERATED_NOTE, '', '# Notifications', ''];
  if (!recent.length) return `${[...out, '_No notifications._'].join('\n')}\n`;
  out.push(`The ${recent.length} most recent, newest first, by target. Agents read theirs with \`baton inbox\`.`, '');
  const byTarget = new Map<string, BatonEvent[]>();
  for (const e of recent) for (const t of e.notify!.targets) appendTo(byTarget, t, e);
  for (const target of [...byTarget.keys()].sort(cmp)) {
    out.push(`## ${mdCode(target)}`, '');
    out.push(
      mdTable(
        ['seq', 'at', 'kind', 'task', 'from', 'text'],
        byTarget
          .get(target)!
          .slice()
          .reverse()
          .map((e) => [String(e.seq), e.ts, e.notify!.kind + (e.notify!.priority === 'high' ? ' (high)' : ''), e.task ? mdCode(e.task) : '—', e.actor ? mdCode(e.actor) : '—', mdText(typeof e.data.text === 'string' ? e.data.text : '')]),
      ),
      '',
    );
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** What the generated files are made of besides the state and config (store/archivefiles.ts projectionInputs). */
export interface ProjectionInputs {
  notifications: BatonEvent[];
  archive: ArchiveView;
}

/**
 * Every generated file of the board, by name relative to the board directory: a pure function
 * of the state, the config, the newest notifications of the log and what the archive holds
 * (store/archivefiles.ts projectionInputs).
 */
export function renderProjections(state: State, config: Config, inputs: ProjectionInputs = { notifications: [], archive: NO_ARCHIVE }): Map<string, string> {
  const recent = inputs.notifications;
  // One pass over the sessions and leases for both files that leave replaced sessions out.
  // The render's board view lists the leased tasks already (a whole board's Object.values costs
  // tens of milliseconds at 100,000 tasks).
  const replaced = replacedSessions(state, boardView(state).leased);
  return new Map([
    ['STATUS.md', renderStatusMd(state, config, inputs.archive)],
    ['AGENTS.md', renderAgentsMd(state, replaced)],
    ['SESSIONS.md', renderSessionsMd(state, replaced)],
    ['HANDOFFS.md', renderHandoffsMd(state)],
    ['NOTIFICATIONS.md', renderNotificationsMd(recent)],
    ['handoff-index.json', stableStringify({ generated_by: 'baton render', handoffs: Object.values(state.handoffs).sort((a, b) => cmp(a.task, b.task)) })],
    ...Object.values(state.handoffs).map((h): [string, string] => [`handoffs/${h.task}.handoff.md`, renderHandoffBundle(h, state.tasks[h.task])]),
  ]);
}
