import { asShell } from '../rules/shellword.js';
import type { Notification } from '../rules/notifications.js';
import type { Advice } from '../rules/next.js';
import type { Role, Task } from '../rules/types.js';

/** What a primer says (render/primer.ts writes it): the board, who the caller is, what it holds, what waits for it. */
export interface PrimeData {
  revision: number;
  board: { name: string; dir: string; total: number; ready: number };
  role: Role;
  /** Null: no session (the primer says how to join). */
  me: { agent: string; session: string; specialties: string[] } | null;
  held: Task[];
  inbox: Notification[];
  next: Advice | null;
  now: number;
  /** The caller's session that has ended (it must join again), when that is why `me` is null. */
  ended?: string | undefined;
  /** What runs baton in the agent's shell here (`baton`, or `npx baton-board` where the project has it as a dependency). */
  shell: string;
}


/**
 * The primer `baton prime` prints and the SessionStart hook hands an agent as context: under
 * 2,000 characters, the most important lines first, so a copy cut off anywhere still says who
 * you are, what you hold and what to do next.
 */

const PRIMER_MAX = 2000;

const LOOPS: Record<Role, string[]> = {
  worker: ['baton next', 'baton claim ID   (or: baton claim-next)', 'baton done ID --notes "what changed"'],
  reviewer: ['baton review next', 'read the work (baton show ID; its handoff or diff)', 'baton review approve ID   (or: baton review reject ID --notes "what must change")'],
  orchestrator: ['baton status', 'baton add "…" / baton import PLAN / baton spawn --next', 'baton ps · baton wait SESSION · baton send --to agent:ID "…"'],
};

const short = (s: string, n: number) => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};

function left(expires: string, now: number): string {
  const s = Math.round((Date.parse(expires) - now) / 1000);
  if (s <= 0) return 'lapsed';
  return s >= 120 ? `${Math.round(s / 60)}m left` : `${s}s left`;
}

export function renderPrimer(p: PrimeData): string {
  // baton's own words with every command as the agent's shell runs it (`npx baton-board …` where the
  // project has baton); titles and messages are put in after, as they are.
  const say = (text: string) => asShell(text, p.shell);
  const lines: string[] = [];
  if (p.me) {
    lines.push(`baton: you are ${p.me.agent} (${p.role}${p.me.specialties.length ? `, ${short(p.me.specialties.join(','), 80)}` : ''}), session ${p.me.session}, on board "${short(p.board.name, 60)}" at ${short(p.board.dir, 200)}.`);
    if (p.held.length) {
      const shown = p.held.slice(0, 3).map((t) => `${t.id} "${short(t.title, 60)}" (${t.status}${t.lease ? `, lease until ${t.lease.expires_at}, ${left(t.lease.expires_at, p.now)}` : ''})`);
      lines.push(`You hold: ${shown.join('; ')}${p.held.length > 3 ? say(`; and ${p.held.length - 3} more (baton status)`) : ''}.${say(' Finish with baton done ID, hand over with baton handoff ID --notes "…", give back with baton release ID.')}`);
    } else lines.push('You hold nothing.');
    const high = p.inbox.filter((n) => n.priority === 'high').length;
    if (p.inbox.length) {
      const first = p.inbox.find((n) => n.priority === 'high') ?? p.inbox[0]!;
      lines.push(`Inbox: ${p.inbox.length} unread${high ? `, ${high} high` : ''}; first: ${short(first.text ?? `${first.kind}${first.task ? ` ${first.task}` : ''}`, 120)}. Read: ${say('baton inbox --ack')}`);
    } else lines.push('Inbox: nothing unread.');
    if (p.next) lines.push(`Next: ${p.next.action}${p.next.task ? ` ${p.next.task.id} "${short(p.next.task.title, 60)}"` : ''}${p.next.command ? `: ${say(p.next.command.replace(/ --json$/, ''))}` : ''}. ${short(p.next.reason, 200)}`);
  } else {
    lines.push(`baton: board "${short(p.board.name, 60)}" at ${short(p.board.dir, 200)}: ${p.board.total} tasks, ${p.board.ready} ready. ${p.ended ? `Your session ${p.ended} has ended` : 'You have no session here'}.`);
    lines.push(say(`Join first: eval "$(baton join --name NAME --role ${p.role} --export)" (the baton MCP server and hooks join for you).`));
  }
  lines.push(say(`Loop: ${LOOPS[p.role].map((s, i) => `${i + 1}. ${s}`).join('  ')}`));
  lines.push(say('Keep a lease with baton heartbeat (the hooks and the MCP server renew it for you); --json answers are for parsing; baton next --watch 60 waits for work.'));
  lines.push('With the baton MCP server connected, the same steps are its tools: next, claim, done, release, handoff, inbox, send.');
  // Whole lines only: what does not fit is dropped from the end, the least important first (the
  // first line, who you are, is always there, cut to fit if it must be).
  let out = `${short(lines[0]!, PRIMER_MAX)}\n`;
  for (const l of lines.slice(1)) {
    if (out.length + l.length + 1 > PRIMER_MAX) break;
    out += `${l}\n`;
  }
  return out.trimEnd();
}
