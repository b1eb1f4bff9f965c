import { existsSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { ARCHIVE_IDS, archiveIds, archiveView, projectionInputs, readArchive } from '../store/archivefiles.js';
import type { ProjectionInputs } from '../render/projections.js';
import { missingAgentCommands } from '../clients/agentpath.js';
import { BatonError } from '../rules/errors.js';
import { futureTimes, spell, toMinute } from '../rules/clock.js';
import { percent } from '../render/markdown.js';
import { leftoverLockDirs, lockHealth, readLockOwner, RENDER_LOCK, STALE_MS } from '../store/lock.js';
import type { Config, Question, State } from '../rules/types.js';
import { openQuestions } from '../rules/questions.js';
import {
  checkEvents,
  FILES,
  leftoverTempFiles,
  readConfig,
  readState,
} from '../store/store.js';
import { readEvents } from '../store/eventlog.js';
import { summarize } from '../rules/summary.js';
import { findCycles, spellCycle, type TaskJson, toTaskJson } from '../rules/taskmodel.js';
import { renderProjections } from '../render/projections.js';
import { boardDir, type Ctx, loadHot } from './context.js';

// ---------------------------------------------------------------- status

export interface StatusResult {
  revision: number;
  project: string;
  board: string;
  profile: Config['profile'];
  retention: { max_rows: number; max_age_days: number };
  /** Finished tasks moved to archive/tasks/: how many, and after how many days (0: never by itself). */
  archive: { archived: number; after_days: number };
  total: number;
  counts: Record<string, number>;
  ready_count: number;
  in_progress: TaskJson[];
  review_queue: TaskJson[];
  ready: TaskJson[];
  blocked: TaskJson[];
  /** Gates waiting for their signal. */
  gates: TaskJson[];
  /** Open questions: asked, not answered, their asker still on. */
  questions: Question[];
  recently_done: TaskJson[];
}

export async function status(ctx: Ctx): Promise<StatusResult> {
  const { dir, state, config } = await loadHot(ctx);
  const archive = archiveView(dir);
  const s = summarize(state, config, 10, archive.recently_done);
  return {
    revision: s.revision,
    project: s.project,
    board: dir,
    profile: s.profile,
    retention: { max_rows: config.events.max_rows, max_age_days: config.events.max_age_days },
    archive: { archived: archive.count, after_days: config.tasks.archive_after_days },
    total: s.total,
    counts: s.counts,
    ready_count: s.ready_count,
    in_progress: s.in_progress.map(toTaskJson),
    review_queue: s.review_queue.map(toTaskJson),
    ready: s.ready.map(toTaskJson),
    blocked: s.blocked.map(toTaskJson),
    gates: s.gates_waiting.map(toTaskJson),
    questions: openQuestions(state),
    recently_done: s.recently_done.map(toTaskJson),
  };
}

export function renderStatus(r: StatusResult): string {
  const nonzero = Object.entries(r.counts)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${s} ${n}`)
    .join(' · ');
  const counted = r.total - (r.counts.cancelled ?? 0);
  const out = [
    `${r.project} · revision ${r.revision} · profile ${r.profile} · ${r.total} tasks${nonzero ? ` (${nonzero})` : ''}${r.archive.archived ? ` · ${r.archive.archived} archived` : ''}`,
    ...(r.total ? [`Progress: ${r.counts.done ?? 0} of ${counted} done (${percent(r.counts.done ?? 0, counted)}%)`] : []),
  ];
  const section = (title: string, tasks: TaskJson[], fmt: (t: TaskJson) => string) => {
    if (tasks.length) out.push('', `${title}:`, ...tasks.map((t) => `  ${t.id.padEnd(12)} ${fmt(t)}`));
  };
  const title = (t: TaskJson) => oneLine(t.title, 70);
  section('In progress', r.in_progress, (t) => `${title(t)}${t.assignee ? `  @${t.assignee}` : ''}${t.lease ? `  lease until ${minute(t.lease.expires_at)}` : ''}`);
  section('Review queue', r.review_queue, (t) => `${t.status.padEnd(10)} ${title(t)}${t.assignee ? `  by @${t.assignee}` : ''}`);
  if (r.questions.length) out.push('', 'Open questions:', ...r.questions.map((q) => `  ${q.id.padEnd(12)} ${q.from_agent} → ${q.to}: ${oneLine(q.text, 60)}${q.choices.length ? ` (${q.choices.join(' / ')})` : ''}`));
  section('Gates waiting for a signal', r.gates, (t) => `${title(t)}${t.gate ? `  (${t.gate.type})` : ''}`);
  section('Blocked', r.blocked, (t) => `${title(t)}  — ${t.blocked?.reason ?? ''}`);
  section(`Ready next (${r.ready_count})`, r.ready, (t) => `P${t.priority}  ${title(t)}`);
  section('Recently done', r.recently_done, (t) => `${title(t)}  ${minute(t.updated_at)}`);
  if (r.total === 0) out.push('', 'The board is empty: baton add "First task"');
  return out.join('\n');
}

/** A title or text on one line, cut to `max` characters. */
const oneLine = (text: string, max: number) => {
  const t = text.replace(/\s+/g, ' ');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

/** A stored time to the minute, UTC: `2026-12-07 11:43Z`. */
const minute = (iso: string) => `${toMinute(iso)}Z`;

// ---------------------------------------------------------------- render

export interface RenderResult {
  revision: number;
  written: string[];
}

export async function render(ctx: Ctx): Promise<RenderResult> {
  const dir = boardDir(ctx);
  // Under the render lock, as every render (renderlock.ts): the newest state, never an older one after it.
  const { renderLatest } = await import('../store/renderlock.js');
  const r = await renderLatest(dir, ctx.lockTimeoutMs, true);
  return { revision: r.revision ?? (await readState(dir)).revision, written: r.written };
}

export const renderRender = (r: RenderResult) =>
  r.written.length ? `Regenerated ${r.written.join(', ')} (revision ${r.revision}).` : `All generated files are up to date (revision ${r.revision}).`;

// ---------------------------------------------------------------- doctor

export interface Check {
  name: string;
  ok: boolean;
  /** error: the board is wrong; warn: it works but needs a tidy-up. */
  level: 'error' | 'warn';
  message: string;
  /** A concrete next step shown when the check does not pass. */
  fix: string | null;
}

export interface DoctorResult {
  revision: number;
  healthy: boolean;
  profile: string | null;
  checks: Check[];
  repaired: string[];
}

const pass = (name: string, message: string): Check => ({ name, ok: true, level: 'warn', message, fix: null });
const fail = (name: string, level: Check['level'], message: string, fix: string): Check => ({ name, ok: false, level, message, fix });

function checkState(state: State, dir: string, config: Config | null, now: number): Check[] {
  const checks: Check[] = [];
  const dangling: string[] = [];
  // The archive and the state are checked together: an archived id resolves.
  const archive = readArchive(dir);
  const archived = new Map(archive.records.map((r) => [r.id, r]));
  const exists = (id: string) => state.tasks[id] !== undefined || archived.has(id);
  for (const t of Object.values(state.tasks)) {
    for (const d of t.depends_on) if (!exists(d)) dangling.push(`${t.id} → ${d}`);
    if (t.parent && !exists(t.parent)) dangling.push(`${t.id} parent ${t.parent}`);
    if (state.tasks[t.id] !== t) dangling.push(`${t.id} is stored under another key`);
  }
  checks.push(
    dangling.length
      ? fail('references', 'error', `references to missing tasks: ${dangling.slice(0, 5).join(', ')}${dangling.length > 5 ? ` and ${dangling.length - 5} more` : ''}`, 'baton dep rm TASK DEP (or baton edit TASK --parent "")')
      : pass('references', 'every dependency and parent exists'),
  );
  checks.push(checkArchive(dir, state, config, archive, archived));
  // Every result a task names is on disk (results/ is committed with the board).
  const missingResults = Object.values(state.tasks).filter((t) => t.result && !existsSync(join(dir, t.result.ref)));
  if (missingResults.length) {
    checks.push(fail('results', 'warn', `${missingResults.length} task(s) name a result file that is missing: ${missingResults.slice(0, 5).map((t) => `${t.id} (${t.result!.ref})`).join(', ')}`, 'pull or sync from the clone that stored them, or restore them from git'));
  }
  const cycles = findCycles(state, 1);
  checks.push(
    cycles.length
      ? fail('cycles', 'error', `dependency cycle: ${spellCycle(cycles[0]!)}`, `baton dep rm ${cycles[0]![0]} ${cycles[0]![1]}`)
      : pass('cycles', 'the dependency graph has no cycle'),
  );
  const expired = Object.values(state.tasks).filter((t) => t.lease && Date.parse(t.lease.expires_at) < now);
  checks.push(
    expired.length
      ? fail('leases', 'warn', `${expired.length} expired lease(s): ${expired.slice(0, 5).map((t) => t.id).join(', ')}`, 'baton reap (any claim also takes them back)')
      : pass('leases', 'no expired lease'),
  );
  let inputs: ProjectionInputs | null = null;
  try {
    inputs = projectionInputs(dir, state);
  } catch (e) {
    if (!(e instanceof BatonError) || e.code !== 'BOARD_CORRUPT') throw e;
    checks.push(fail('projections', 'warn', `not checked: ${e.message}`, e.hint ?? 'baton doctor --repair'));
  }
  if (config && inputs) {
    const projections = renderProjections(state, config, inputs);
    const stale = [...projections].filter(([name, content]) => {
      try {
        return readFileSync(join(dir, name), 'utf8') !== content;
      } catch {
        return true;
      }
    });
    checks.push(
      stale.length
        ? fail('projections', 'warn', `out of date: ${stale.map(([n]) => n).join(', ')}`, 'baton render')
        : pass('projections', 'generated files match the state'),
    );
  }
  return checks;
}

/** archive/tasks/ beside the state: readable, listed in ids.txt, and no task both archived and on the board. */
function checkArchive(dir: string, state: State, config: Config | null, archive: ReturnType<typeof readArchive>, archived: Map<string, unknown>): Check {
  const days = config?.tasks.archive_after_days ?? 0;
  const policy = days ? `finished tasks are archived ${days} day(s) after they last changed` : 'automatic archiving is off (tasks.archive_after_days 0)';
  if (archive.bad.length) {
    const b = archive.bad[0]!;
    return fail('archive', 'error', `${archive.bad.length} unreadable line(s) in the task archive, first ${b.file}:${b.line}`, `fix the line by hand or restore the file from git (git checkout -- ${join(basename(dir), b.file)})`);
  }
  const ids = archiveIds(dir);
  const unlisted = [...archived.keys()].filter((id) => !ids.has(id));
  if (unlisted.length) return fail('archive', 'warn', `${unlisted.length} archived id(s) missing from ${ARCHIVE_IDS} (${unlisted.slice(0, 5).join(', ')}): a new task could take one`, 'baton doctor --repair');
  const both = Object.keys(state.tasks).filter((id) => archived.has(id));
  if (both.length) return fail('archive', 'warn', `${both.length} task(s) both on the board and archived (${both.slice(0, 5).join(', ')}): a git merge brought them back, or an archiving was cut short; nothing is lost`, 'baton doctor --repair (or any change after a git operation) settles them');
  return pass('archive', `${archived.size} archived task(s); ${policy}`);
}

/** Times on the board further in the future than clock_skew_seconds: some machine's clock runs ahead. */
function checkClock(state: State, config: Config | null, ends: { last: number | null; lastTs: string | null }): Check {
  const allowanceMs = (config?.clock_skew_seconds ?? 30) * 1000;
  const times: [string, string | null][] = [];
  for (const t of Object.values(state.tasks)) times.push([`task ${t.id} updated_at`, t.updated_at]);
  for (const s of Object.values(state.sessions)) times.push([`session ${s.id} heartbeat_at`, s.heartbeat_at]);
  times.push([`event seq ${ends.last}`, ends.lastTs]);
  const ahead = futureTimes(times, allowanceMs, Date.now());
  if (!ahead.length) return pass('clock', 'no time on the board is in the future');
  const [what, iso] = ahead[0]!;
  return fail('clock', 'warn', `${ahead.length} time(s) on the board are in the future, up to ${spell(Date.parse(iso) - Date.now())} ahead (${what}: ${iso}): a machine writing to this board has a clock running ahead`, 'fix the clock of the machine that wrote them (NTP); baton takes back no lease before its time plus clock_skew_seconds');
}

async function checkLog(dir: string, state: State): Promise<Check[]> {
  const { JOURNAL } = await import('../store/journal.js');
  const { eventsGitRemoved, logDisagreement, wholeLogProblem } = await import('../store/reconcile.js');
  if (existsSync(join(dir, JOURNAL)) && lockHealth(dir) !== 'held') {
    return [fail('log', 'warn', 'a writer was killed mid-transaction; its journal says exactly what to undo', 'baton doctor --repair (or any change to the board)')];
  }
  try {
    const missing = eventsGitRemoved(dir);
    if (missing?.verdict === 'restore') {
      return [fail('log', 'warn', `git took event ${missing.id}, the last this board wrote, out of the log (${missing.why}); commit ${missing.commit.slice(0, 12)} still has it`, 'baton doctor --repair (or any change to the board) brings the events back')];
    }
    if (missing?.verdict === 'gone') {
      return [fail('log', 'warn', `event ${missing.id}, the last this board wrote, is in neither the log nor any commit git has (a change discarded with git checkout -f, git restore or git stash drop, or a log restored by hand)`, 'if it was discarded on purpose, the next change moves on; else restore events.jsonl from a backup')];
    }
    const problem = logDisagreement(dir, state) ?? wholeLogProblem(dir, state);
    if (problem) {
      return [fail('log', 'warn', `the log and the state disagree (${problem}); a git operation put them there, and nothing is lost`, 'baton doctor --repair (or any change to the board) reconciles them, keeping every event')];
    }
    const schema = await checkEvents(readEvents(dir, state.seq));
    if (schema) return [fail('log', 'error', `events.jsonl: ${schema}`, 'fix that line by hand (git show HEAD:project-plan/events.jsonl has the committed version)')];
    return [pass('log', `events 1..${state.seq} agree with revision ${state.revision}`)];
  } catch (e) {
    if (e instanceof BatonError) return [fail('log', 'error', e.message, e.hint ?? 'fix events.jsonl by hand')];
    throw e;
  }
}

export async function doctor(o: { repair?: boolean }, ctx: Ctx): Promise<DoctorResult> {
  const dir = boardDir(ctx);
  const repaired: string[] = [];
  const gitMod = await import('../git/conflicts.js');
  if (o.repair) {
    // Inside a conflicted git operation, the board files are merged from git's index first
    // (under the lock: no board write may land between reading them and writing the result).
    const { withLock } = await import('../store/tx.js');
    const { fromIndex, markers } = await withLock(dir, ctx.lockTimeoutMs, async () => {
      const fromIndex = await gitMod.resolveFromIndex(dir, gitMod.mergePreference(ctx.env));
      const markers = fromIndex.resolved.length ? { resolved: false, conflicts: [] } : await gitMod.resolveMarkers(dir, gitMod.mergePreference(ctx.env));
      return { fromIndex, markers };
    });
    if (fromIndex.resolved.length) repaired.push(`resolved ${fromIndex.resolved.join(', ')} with baton's merge and marked them resolved`);
    if (markers.resolved) repaired.push('merged both sides of the conflict markers in state.json, task by task');
    const conflicts = [...fromIndex.conflicts, ...markers.conflicts];
    if (conflicts.length) repaired.push(`both sides changed ${conflicts.map((c) => `${c.task} (${c.field})`).join(', ')}: each keeps the side that changed it last; ${gitMod.CONFLICT_NOTE} lists both values`);
    try {
      const { repairBoard } = await import('../store/tx.js');
      repaired.push(...(await repairBoard(dir, ctx.lockTimeoutMs)));
    } catch (e) {
      if (!(e instanceof BatonError) || e.code !== 'BOARD_CORRUPT') throw e;
      // Can't repair a state we can't read; the checks below say what is wrong.
    }
    gitMod.restage(dir, fromIndex.resolved);
  }
  const checks: Check[] = [];
  let config: Config | null = null;
  try {
    config = await readConfig(dir);
    checks.push(pass('config', `${FILES.config} is valid (profile ${config.profile}; event retention ${config.events.max_rows || config.events.max_age_days ? `max_rows ${config.events.max_rows}, max_age_days ${config.events.max_age_days}` : 'off'})`));
  } catch (e) {
    if (!(e instanceof BatonError)) throw e;
    checks.push(fail('config', 'error', e.message, e.hint ?? `fix ${FILES.config}`));
  }
  if (config) {
    // Agent commands that would not start here. Only the default agent's makes the board need a
    // fix; the others are reported (a configured one in the message, presets nobody uses as a note).
    const m = missingAgentCommands(config, ctx.env.PATH, process.getuid?.() ?? null, ctx.env);
    const said = [
      m.missing_configured.length ? `not found: ${m.missing_configured.join(', ')}` : '',
      m.missing_presets.length ? `presets not installed here (fine while unused): ${m.missing_presets.join(', ')}` : '',
    ].filter(Boolean);
    checks.push(
      m.default_missing
        ? fail('agents', 'warn', `spawn.default_agent '${m.default_missing}' would not start: ${said.join('; ')}`, 'install it, or set spawn.default_agent (or pass --agent) to one that is on PATH')
        : pass('agents', said.length ? `agent commands: ${said.join('; ')}` : 'every configured and preset agent command is on PATH'),
    );
    if (m.refused.length) {
      checks.push(fail('agent-flags', 'warn', `would be refused as this user: ${m.refused.join('; ')}`, 'allow its tools by name instead (the claude preset of a new config.yaml: --permission-mode acceptEdits --allowedTools …), or run as another user'));
    }
  }
  // Unknown keys are dropped silently by the schema and warned about only when the text is
  // parsed, so doctor looks at the file itself, every time.
  if (existsSync(join(dir, FILES.config))) {
    const parsedYaml = (await import('../rules/yaml.js')).parseYaml(readFileSync(join(dir, FILES.config), 'utf8'));
    if (parsedYaml.ok) {
      const { describeUnknownKey, unknownConfigKeys } = await import('../rules/schema.js');
      const unknown = unknownConfigKeys(parsedYaml.value);
      checks.push(
        unknown.length
          ? fail('config-keys', 'warn', unknown.map((u) => describeUnknownKey(u, FILES.config)).join('; '), `rename or remove ${unknown.length === 1 ? 'that key' : 'those keys'}: baton ignores ${unknown.length === 1 ? 'it' : 'them'}`)
          : pass('config-keys', `every key in ${FILES.config} is known`),
      );
    }
  }
  let state: State | null = null;
  try {
    state = await readState(dir);
    checks.push(pass('state', `${FILES.state} matches the schema (revision ${state.revision}, ${Object.keys(state.tasks).length} tasks)`));
  } catch (e) {
    if (!(e instanceof BatonError)) throw e;
    checks.push(fail('state', 'error', e.message, e.hint ?? 'restore state.json from git'));
  }
  if (state) checks.push(...checkState(state, dir, config, Date.now()), ...(await checkLog(dir, state)));

  if (state) checks.push(checkClock(state, config, (await import('../store/reconcile.js')).logEnds(dir)));
  const lock = lockHealth(dir, config ? config.lock_stale_seconds * 1000 : STALE_MS);
  const owner = readLockOwner(dir);
  checks.push(
    lock === 'stale'
      ? fail('lock', 'warn', `a lock left by a dead writer${owner ? ` (pid ${owner.pid} on ${owner.host})` : ''}`, 'baton doctor --repair (the next command also breaks it)')
      : pass('lock', lock === 'held' ? 'held by a live writer' : 'free'),
  );
  // The render lock only shows when something holds it (a render is short).
  const renderLock = lockHealth(dir, config ? config.lock_stale_seconds * 1000 : STALE_MS, Date.now(), RENDER_LOCK);
  if (renderLock !== 'free') {
    const holder = readLockOwner(dir, RENDER_LOCK);
    const who = holder ? ` (pid ${holder.pid} on ${holder.host}, since ${holder.at})` : '';
    checks.push(
      renderLock === 'stale'
        ? fail('render-lock', 'warn', `a render lock left by a dead process${who}: the Markdown waits until it is broken`, 'baton render (breaks it, then regenerates)')
        : fail('render-lock', 'warn', `a process holds the render lock${who}: writes commit, but their Markdown waits for it`, 'if that process is stuck, stop it; then baton render'),
    );
  }
  const g = gitMod.gitChecks(dir);
  if (g.unmerged.length) {
    checks.push(fail('merge', 'error', `git stopped on a conflict in the board files: ${g.unmerged.join(', ')}`, 'baton doctor --repair (merges them with baton\'s merge and marks them resolved)'));
  } else if (existsSync(join(dir, gitMod.CONFLICT_NOTE))) {
    checks.push(fail('merge', 'warn', `${gitMod.CONFLICT_NOTE} lists tasks both sides of a merge changed; each holds the side that changed it last`, `check those tasks, then delete ${gitMod.CONFLICT_NOTE}`));
  }
  if (g.driverMissing) checks.push(fail('git-driver', 'warn', '.gitattributes names baton\'s merge driver but this clone has not installed it: git would merge the board as text', 'baton git install'));
  if (g.attributesOld) checks.push(fail('git-attributes', 'warn', '.gitattributes is from an older `baton git install`: it lacks the lines that merge tasks/ or archive/tasks/, so git would merge those files as text and stop', 'baton git install'));
  if (g.ignoreMissing.length) checks.push(fail('git-ignore', 'warn', `the board's .gitignore lacks ${g.ignoreMissing.join(', ')}: files local to this clone could be committed`, 'baton git install'));
  const temps = leftoverTempFiles(dir);
  checks.push(
    temps.length
      ? fail('temp-files', 'warn', `${temps.length} temp file(s) of interrupted writes: ${temps.slice(0, 5).map((t) => relative(dir, t)).join(', ')}${temps.length > 5 ? ', …' : ''}`, 'baton doctor --repair')
      : pass('temp-files', 'no leftover temp files'),
  );
  const lockDirs = leftoverLockDirs(dir);
  checks.push(
    lockDirs.length
      ? fail('lock-leftovers', 'warn', `${lockDirs.length} lock director${lockDirs.length === 1 ? 'y' : 'ies'} left behind by a release or a break that did not finish: ${lockDirs.slice(0, 5).join(', ')}${lockDirs.length > 5 ? ', …' : ''}`, 'baton doctor --repair (or the next change) removes them')
      : pass('lock-leftovers', 'no lock directories left behind'),
  );

  const errors = checks.filter((c) => !c.ok && c.level === 'error');
  const result: DoctorResult = {
    revision: state?.revision ?? 0,
    healthy: checks.every((c) => c.ok),
    profile: config?.profile ?? null,
    checks,
    repaired,
  };
  if (errors.length) {
    throw new BatonError('BOARD_CORRUPT', `${errors.length} problem(s): ${errors[0]!.message}`, {
      hint: errors[0]!.fix ?? 'baton doctor',
      details: { checks, repaired },
    });
  }
  return result;
}

export function renderDoctor(r: DoctorResult): string {
  const out = r.repaired.map((x) => `repaired: ${x}`);
  for (const c of r.checks) {
    out.push(`${c.ok ? '✓' : c.level === 'error' ? '✗' : '!'} ${c.name.padEnd(12)} ${c.message}`);
    if (!c.ok && c.fix) out.push(`  fix: ${c.fix}`);
  }
  out.push(r.healthy ? `Board is healthy (revision ${r.revision}, profile ${r.profile}).` : 'Board works but needs the fixes above.');
  return out.join('\n');
}
