import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { editClientJson, parseClientJson, readClientFile, writeClientFile } from './clientfile.js';
import { invalidInput } from '../rules/errors.js';

/**
 * `baton hooks install CLIENT`: baton's four hooks in the client's project settings, merged into
 * what is there (every other hook and key kept, a second install changes nothing); `--uninstall`
 * takes out exactly the entries install added (found by their command: `… baton… hook EVENT`).
 *
 * The clients' formats (checked against their documentation, November 2026):
 * - Claude Code: `.claude/settings.json`, `hooks.EVENT[] = {matcher, hooks: [{type, command, timeout (s)}]}`;
 *   SessionStart, PostToolUse, Stop, SessionEnd.
 * - Codex: `.codex/hooks.json`, the same shape and event names (Codex runs a project's hooks
 *   once a person trusts them in its /hooks screen; `codex exec` children need
 *   `--dangerously-bypass-hook-trust`).
 * - Gemini CLI: `.gemini/settings.json`, the same shape with `name` and `timeout` in ms; its
 *   events are SessionStart, AfterTool, AfterAgent (its stop) and SessionEnd.
 */

const HOOK_CLIENTS = ['claude', 'codex', 'gemini'] as const;
export type HookClient = (typeof HOOK_CLIENTS)[number];

/** baton's hook events, by the name `baton hook EVENT` takes. */
export const HOOK_EVENTS = ['session-start', 'post-tool-use', 'stop', 'session-end'] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

interface ClientHooks {
  file: string;
  /** The client's event name for each of baton's, and its matcher (none: the event has no matcher). */
  events: Record<HookEvent, { name: string; matcher?: string }>;
  /** Seconds, or milliseconds for Gemini. */
  timeout: (seconds: number) => number;
  /** The most the client allows an event's hook, in seconds (Codex clamps SessionEnd to 3 s and warns). */
  limit?: Partial<Record<HookEvent, number>>;
  named: boolean;
}

const CLIENT_HOOKS: Record<HookClient, ClientHooks> = {
  claude: {
    file: '.claude/settings.json',
    events: {
      'session-start': { name: 'SessionStart', matcher: 'startup|resume|clear|compact|fork' },
      'post-tool-use': { name: 'PostToolUse', matcher: '*' },
      stop: { name: 'Stop' },
      'session-end': { name: 'SessionEnd' },
    },
    timeout: (s) => s,
    named: false,
  },
  codex: {
    file: '.codex/hooks.json',
    events: {
      'session-start': { name: 'SessionStart', matcher: 'startup|resume|clear|compact' },
      'post-tool-use': { name: 'PostToolUse', matcher: '*' },
      stop: { name: 'Stop' },
      'session-end': { name: 'SessionEnd' },
    },
    timeout: (s) => s,
    limit: { 'session-end': 3 },
    named: false,
  },
  gemini: {
    file: '.gemini/settings.json',
    events: {
      'session-start': { name: 'SessionStart', matcher: '*' },
      'post-tool-use': { name: 'AfterTool', matcher: '*' },
      stop: { name: 'AfterAgent' },
      'session-end': { name: 'SessionEnd' },
    },
    timeout: (s) => s * 1000,
    named: true,
  },
};

export const isHookClient = (raw: string): raw is HookClient => (HOOK_CLIENTS as readonly string[]).includes(raw);

/** The client's own name for one of baton's hook events (Gemini's stop is AfterAgent). */
export const clientEventName = (client: HookClient, event: HookEvent): string => CLIENT_HOOKS[client].events[event].name;

export function checkHookClient(raw: string): HookClient {
  const c = raw.toLowerCase();
  if (!(HOOK_CLIENTS as readonly string[]).includes(c)) throw invalidInput(`Unknown client '${raw}': hooks are for ${HOOK_CLIENTS.join(', ')}.`, 'baton hooks install claude');
  return c as HookClient;
}

/**
 * A command an install wrote (this one, or one with another path to baton): it runs baton (the
 * word is in it) and ends with exactly `hook EVENT --client CLIENT`. A command of the user's that
 * only mentions baton, or runs `baton hook` with flags of its own, is not ours.
 */
const OURS = /baton.* hook (session-start|post-tool-use|stop|session-end) --client (claude|codex|gemini)$/;

type Group = { matcher?: string; hooks?: Array<Record<string, unknown>>; [k: string]: unknown };

export interface HooksPlan {
  file: string;
  content: string | null;
  changed: boolean;
}

/** The settings with baton's hooks in (or, uninstalling, out): `prefix` runs baton (`node "…/bin/baton.cjs"`). */
export function planHooks(root: string, client: HookClient, prefix: string, uninstall: boolean): HooksPlan {
  const c = CLIENT_HOOKS[client];
  const before = readClientFile(root, c.file);
  const doc = parseClientJson(c.file, before, `fix ${c.file}, or add the hooks by hand (baton hooks install ${client} prints none: see the README)`);
  const hooks = (doc.hooks ?? {}) as Record<string, Group[]>;
  if (typeof hooks !== 'object' || Array.isArray(hooks)) throw invalidInput(`"hooks" in ${c.file} is not an object.`, `fix ${c.file} by hand`);
  const want = new Map<string, Record<string, unknown>>(); // client event name → our hook
  for (const e of Object.keys(c.events) as HookEvent[]) {
    want.set(c.events[e].name, {
      ...(c.named ? { name: `baton-${e}` } : {}),
      type: 'command',
      command: `${prefix} hook ${e} --client ${client}`,
      timeout: c.timeout(Math.min(e === 'session-start' ? 30 : 10, c.limit?.[e] ?? Infinity)),
    });
  }
  const placed = new Set<string>();
  let removed = 0;
  const out: Record<string, Group[]> = {};
  // Every other entry as it was. Ours: one already right stays where it is; any other is taken out.
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) {
      if (want.has(event) && !uninstall) throw invalidInput(`"hooks.${event}" in ${c.file} is not a list, so baton will not add to it.`, `make it a list, then baton hooks install ${client}`);
      out[event] = groups;
      continue;
    }
    const kept: Group[] = [];
    let fromHere = 0;
    for (const g of groups) {
      const list = g && typeof g === 'object' && Array.isArray(g.hooks) ? g.hooks : null;
      if (!list) {
        kept.push(g);
        continue;
      }
      const others = list.filter((h) => {
        if (!(h && typeof h === 'object' && typeof h.command === 'string' && OURS.test(h.command))) return true;
        const right = !uninstall && !placed.has(event) && JSON.stringify(h) === JSON.stringify(want.get(event));
        if (right) placed.add(event);
        else fromHere++;
        return right;
      });
      if (others.length === list.length) kept.push(g);
      // A group that held only ours goes with them; one that held others too keeps those.
      else if (others.length) kept.push({ ...g, hooks: others });
    }
    removed += fromHere;
    // An event is dropped only when what made it empty was ours.
    if (kept.length || !fromHere) out[event] = kept;
  }
  if (!uninstall) {
    for (const e of Object.keys(c.events) as HookEvent[]) {
      const { name, matcher } = c.events[e];
      if (placed.has(name)) continue;
      out[name] = [...(out[name] ?? []), { ...(matcher ? { matcher } : {}), hooks: [want.get(name)!] }];
    }
  }
  if (uninstall && !removed) return { file: c.file, content: before, changed: false };
  // "hooks" (and the file) go only when what emptied them was ours.
  const keepHooks = Object.keys(out).length > 0 || (doc.hooks !== undefined && !removed);
  const rest = Object.keys(doc).filter((k) => k !== 'hooks');
  if (!keepHooks && !rest.length && before !== null && removed) return { file: c.file, content: null, changed: true };
  if (keepHooks && JSON.stringify(out) === JSON.stringify(doc.hooks)) return { file: c.file, content: before, changed: false };
  // Only the events that changed are rewritten: comments and formatting elsewhere stay.
  let content = before;
  if (!keepHooks) content = editClientJson(content, ['hooks'], undefined);
  else if (doc.hooks === undefined || before === null) content = editClientJson(content, ['hooks'], out);
  else {
    for (const event of new Set([...Object.keys(hooks), ...Object.keys(out)])) {
      if (JSON.stringify(hooks[event]) !== JSON.stringify(out[event])) content = editClientJson(content, ['hooks', event], out[event]);
    }
  }
  return { file: c.file, content, changed: content !== before };
}

/** Writes the plan; a settings file left with nothing in it is removed. */
export function writeHooks(root: string, plan: HooksPlan): void {
  if (!plan.changed) return;
  if (plan.content === null) rmSync(join(root, plan.file), { force: true });
  else writeClientFile(root, plan.file, plan.content);
}
