import type { Profile } from './types.js';

/**
 * Which way of sharing the board fits a team (`baton advise`, and a line of `preflight`): one
 * directory on one machine, a network file system several machines mount, or a clone per machine
 * kept in step with git (`sync`); which profile; and why. A pure function of the facts.
 */

export type SharingMode = 'one-directory' | 'network-file-system' | 'git-sync';

export interface TeamFacts {
  agents: number;
  machines: number;
  /** Whether the machines mount one file system that holds the board (null: not said). */
  sharedStorage: boolean | null;
}

export interface SharingAdvice {
  mode: SharingMode;
  profile: Profile;
  /** How `--watch` waits: the platform's file events, or polling (network file systems send none). */
  watchers: 'events' | 'polling';
  /** Why, one reason a line, for people. */
  reasons: string[];
  /** What to run or set, in order. */
  steps: string[];
  facts: { agents: number; machines: number; shared_storage: boolean | null };
}

export function adviseSharing(f: TeamFacts): SharingAdvice {
  const reasons: string[] = [];
  const steps: string[] = [];
  let mode: SharingMode;
  let watchers: SharingAdvice['watchers'] = 'events';
  if (f.machines <= 1) {
    mode = 'one-directory';
    reasons.push('All agents run on one machine: they share project-plan/ directly. The lock judges a dead holder by its process at once, and --watch wakes on file events.');
    steps.push('run every agent in this repository (or a git worktree of it: baton finds the main worktree\'s board)');
  } else if (f.sharedStorage) {
    mode = 'network-file-system';
    watchers = 'polling';
    reasons.push(`${f.machines} machines mount one file system: they can share one board directory. A lock held from another machine is judged dead only by its age (lock_stale_seconds), and network file systems send no file events, so --watch must poll.`);
    steps.push('put the repository on the shared file system and run every agent against the same project-plan/');
    steps.push('set BATON_WATCH_POLL=1 in every agent\'s environment');
    steps.push('set lock_stale_seconds in config.yaml above your longest write on that file system, and keep the machines\' clocks in step (NTP; clock_skew_seconds)');
  } else {
    mode = 'git-sync';
    reasons.push(`${f.machines} machines${f.sharedStorage === null ? ' and no shared file system said' : ' without a shared file system'}: each keeps a clone, and git carries the board between them. A claim counts only once its push lands (claim --sync), so two machines never hold one task.`);
    steps.push('baton git install, once in every clone (the merge driver and attributes)');
    steps.push('agents claim with baton claim-next --sync (or claim ID --sync) and run baton sync after done');
    steps.push('give each machine its own branch of work or worktrees; the board merges task by task');
  }
  let profile: Profile;
  if (f.agents <= 1) {
    profile = 'throughput';
    reasons.push('One agent: safe and balanced require a review by another agent, which would leave its work waiting; throughput makes review optional.');
  } else if (mode === 'git-sync') {
    profile = 'safe';
    reasons.push('Across clones, each machine sees the others\' claims only after a sync: one task in flight per agent and refused path overlaps keep conflicting work apart.');
  } else {
    profile = 'balanced';
    reasons.push(`${f.agents} agents on one board see each other's claims at once: review required, two tasks in flight per agent, overlapping owned paths refused.`);
  }
  steps.push(`baton preflight --profile ${profile} --agents ${f.agents}`);
  return { mode, profile, watchers, reasons, steps, facts: { agents: f.agents, machines: f.machines, shared_storage: f.sharedStorage } };
}

export function renderAdvice(a: SharingAdvice): string {
  const name = { 'one-directory': 'one shared directory', 'network-file-system': 'a network file system, with polling watchers', 'git-sync': 'a clone per machine, kept in step with baton sync' }[a.mode];
  return [
    `Share the board through ${name}; profile ${a.profile}.`,
    ...a.reasons.map((r) => `- ${r}`),
    'Next:',
    ...a.steps.map((s, i) => `  ${i + 1}. ${s}`),
  ].join('\n');
}
