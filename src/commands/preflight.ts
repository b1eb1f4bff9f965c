import { gitOrNull as git } from '../store/gitrun.js';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { authenticate, sessionState } from '../rules/sessions.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { type Profile, PROFILES } from '../rules/types.js';
import { readConfig, readState, writeFileAtomic } from '../store/store.js';
import { boardDir, type Ctx, mutate } from './context.js';
import { adviseSharing, type SharingAdvice } from '../rules/advise.js';

export interface Preflight {
  at: string;
  workspace: string;
  git: boolean;
  branch: string | null;
  head: string | null;
  clean: boolean | null;
  changed: string[];
  profile: Profile;
  agents: number | null;
  confirmed: { workspace: boolean; branch: boolean };
  /** The session that confirmed, for --while-session. */
  session: string | null;
}

export interface PreflightResult {
  revision: number;
  preflight: Preflight;
  /** How the board is best shared by the team preflight recorded (advise, on one machine). */
  advice: SharingAdvice;
  /** True when an earlier confirmation by a still-live session was reused (--while-session). */
  reused: boolean;
  file: string;
}

const preflightFile = (dir: string) => join(dir, 'preflight.json');

/** What the last preflight recorded, or null when there is none or it can't be read. */
function readPreflight(dir: string): Preflight | null {
  try {
    return JSON.parse(readFileSync(preflightFile(dir), 'utf8')) as Preflight | null;
  } catch {
    return null;
  }
}

/**
 * Checks the workspace before a team starts: a git repository, the branch (working on the
 * default branch needs --confirm-branch), a clean tree (else --confirm-workspace), a valid
 * board. Never asks: what needs a decision is refused with the flag that confirms it.
 * Writes preflight.json. --while-session reuses the confirmation a still-live session made
 * on the same branch, so a loop of agents doesn't stop on it again.
 */
export async function run(o: { confirmWorkspace?: boolean; confirmBranch?: boolean; profile?: string; agents?: number; whileSession?: boolean }, ctx: Ctx): Promise<PreflightResult> {
  const dir = boardDir(ctx);
  const state = await readState(dir);
  const config = await readConfig(dir);
  const file = preflightFile(dir);
  const root = dirname(dir);
  const branch = git(root, ['rev-parse', '--abbrev-ref', 'HEAD']);
  const isGit = branch !== null;
  if (o.whileSession) {
    // Without a prior confirmation (or one that can't be read), check afresh.
    const prior = readPreflight(dir);
    const s = prior?.session ? state.sessions[prior.session] : undefined;
    if (prior && s && sessionState(s, config, Date.now()) === 'live' && prior.branch === branch) return { revision: state.revision, preflight: prior, advice: adviseSharing({ agents: prior.agents ?? 1, machines: 1, sharedStorage: null }), reused: true, file };
  }
  let profile = config.profile;
  if (o.profile !== undefined) {
    const p = o.profile.toLowerCase() as Profile;
    if (!PROFILES.includes(p)) throw invalidInput(`Unknown profile '${o.profile}': safe, balanced or throughput.`);
    profile = p;
  }
  const agents = o.agents ?? null;
  // Credentials are checked before anything is written: a bad token changes no profile.
  const session = ctx.creds.session && ctx.creds.token ? authenticate(state, ctx.creds).session.id : null;
  const changed = isGit
    ? (git(root, ['status', '--porcelain', '--untracked-files=normal']) ?? '')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(3))
        .filter((f) => !f.startsWith(`${relative(root, dir)}/`))
    : [];
  const clean = isGit ? changed.length === 0 : null;
  if (isGit && !clean && !o.confirmWorkspace) {
    throw new BatonError('INVALID_INPUT', `The working tree has ${changed.length} uncommitted change(s) (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', …' : ''}); agents would build on them.`, {
      hint: 'commit or stash them, or run baton preflight --confirm-workspace',
      details: { changed },
    });
  }
  if (isGit && (branch === 'main' || branch === 'master') && !o.confirmBranch) {
    throw new BatonError('INVALID_INPUT', `You are on ${branch}: agents would commit straight to it.`, { hint: 'switch to a work branch, or run baton preflight --confirm-branch', details: { branch } });
  }
  let revision = state.revision;
  if (o.profile !== undefined && profile !== config.profile) {
    // The profile the team will run under: config.yaml changes under the lock, with its event.
    const { profileChange } = await import('../store/config.js');
    const change = profileChange(dir, profile);
    revision = (await mutate(ctx, (tx) => change.apply(tx), { afterCommit: change.afterCommit })).revision;
  }
  const preflight: Preflight = {
    at: new Date().toISOString(),
    workspace: root,
    git: isGit,
    branch,
    head: isGit ? git(root, ['rev-parse', 'HEAD']) : null,
    clean,
    changed,
    profile,
    agents,
    confirmed: { workspace: Boolean(o.confirmWorkspace), branch: Boolean(o.confirmBranch) },
    session,
  };
  writeFileAtomic(file, `${JSON.stringify(preflight, null, 2)}\n`, true);
  return { revision, preflight, advice: adviseSharing({ agents: agents ?? 1, machines: 1, sharedStorage: null }), reused: false, file };
}

/** `baton advise`: the team's facts from the flags, else from what preflight recorded. */
export async function advise(o: { agents?: number; machines?: number; sharedStorage?: string }, ctx: Ctx): Promise<SharingAdvice & { revision: number }> {
  const dir = boardDir(ctx);
  const state = await readState(dir);
  const recorded = readPreflight(dir)?.agents;
  let shared: boolean | null = null;
  if (o.sharedStorage !== undefined) {
    const v = o.sharedStorage.trim().toLowerCase();
    if (v !== 'yes' && v !== 'no') throw invalidInput(`--shared-storage takes yes or no, not '${o.sharedStorage}'.`, undefined, { field: 'shared-storage' });
    shared = v === 'yes';
  }
  return { revision: state.revision, ...adviseSharing({ agents: o.agents ?? recorded ?? 1, machines: o.machines ?? 1, sharedStorage: shared }) };
}

export const renderPreflight = (r: PreflightResult) =>
  [
    r.reused ? `Reusing the confirmation of session ${r.preflight.session} (${r.preflight.at}).` : 'Preflight passed.',
    `workspace ${r.preflight.workspace}${r.preflight.git ? ` · branch ${r.preflight.branch} · ${r.preflight.clean ? 'clean' : `${r.preflight.changed.length} change(s) confirmed`}` : ' · not a git repository'}`,
    `profile ${r.preflight.profile}${r.preflight.agents ? ` · ${r.preflight.agents} agents` : ''} · written to ${r.file}`,
    `advice: ${r.advice.mode === 'one-directory' ? 'share this directory' : r.advice.mode}, profile ${r.advice.profile} (baton advise --machines M for more machines)`,
  ].join('\n');
