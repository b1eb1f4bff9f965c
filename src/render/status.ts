import type { Config, State, Task } from '../rules/types.js';
import { STATUSES } from '../rules/types.js';
import { type BoardSummary, frontier, summarize } from '../rules/summary.js';
import { GENERATED_NOTE, mdCode, mdTable, mdText, mermaidLabel, progressBar, utcMinute } from './markdown.js';
import type { Candidate } from '../rules/rank.js';
import { openQuestions } from '../rules/questions.js';
import { appendTo } from '../rules/json.js';

const P = (t: Task) => `P${t.priority}`;
const who = (s: string | null) => (s ? mdCode(s) : '—');

/** What the generated files show of the archive (store/archivefiles.ts archiveView): how much it holds, and its most recently done. */
export interface ArchiveView {
  count: number;
  recently_done: Task[];
}

export const NO_ARCHIVE: ArchiveView = { count: 0, recently_done: [] };

/**
 * STATUS.md: a pure function of state and config, byte-identical for identical input. It opens
 * with what a lead needs first: progress, what is in flight and by whom, what waits on people
 * (reviews, questions, gates, blocked tasks with their reasons), what is ready next and why it
 * ranks there; then what was done, the graph, and the board's settings last.
 */
export function renderStatusMd(state: State, config: Config, archive: ArchiveView = NO_ARCHIVE): string {
  const s = summarize(state, config, 10, archive.recently_done);
  const out: string[] = [GENERATED_NOTE, '', `# ${mdText(s.project)} — board status`, ''];
  out.push(`Revision ${s.revision} · profile **${s.profile}** · ${s.total} task${s.total === 1 ? '' : 's'} · ${s.ready_count} ready · times in UTC`, '');
  out.push(...progress(s, archive));

  out.push('## In flight', '');
  out.push(
    s.in_progress.length
      ? mdTable(
          ['task', 'title', 'who', 'status', 'last change', 'lease until'],
          s.in_progress.map((t) => [mdCode(t.id), mdText(t.title), who(t.assignee), t.status, utcMinute(t.updated_at), t.lease ? utcMinute(t.lease.expires_at) : '—']),
        )
      : '_Nothing in flight._',
    '',
  );

  out.push('## Waiting on people', '');
  const waits = waitingOnPeople(state, s);
  out.push(...(waits.length ? waits : ['_Nothing waits on people._', '']));

  out.push('## Ready next', '');
  if (s.ready_ranked.length) {
    out.push(
      'Best first, by score: priority, then how long a chain of work it starts (critical path), how much waits on it (unblocks), and its age (`ranking` in config.yaml weighs them).',
      '',
      mdTable(
        ['#', 'task', 'title', 'priority', 'specialty', 'why'],
        s.ready_ranked.map((c, i) => [String(i + 1), mdCode(c.task.id), mdText(c.task.title), P(c.task), c.task.specialty ? mdCode(c.task.specialty) : '—', why(c)]),
      ),
      '',
    );
  } else out.push('_Nothing ready._', '');
  if (s.ready_count > s.ready.length) out.push(`…and ${s.ready_count - s.ready.length} more ready.`, '');

  out.push('## Recently done', '');
  out.push(
    s.recently_done.length
      ? mdTable(['task', 'title', 'done at'], s.recently_done.map((t) => [mdCode(t.id), mdText(t.title), utcMinute(t.updated_at)]))
      : '_Nothing done yet._',
    '',
  );

  out.push('## Dependency graph', '');
  out.push(...renderGraph(state, s), '');

  out.push('## Board settings', '');
  const counts = STATUSES.filter((st) => s.counts[st] > 0).map((st) => `${st} ${s.counts[st]}`);
  out.push(`Tasks by status: ${counts.length ? counts.join(' · ') : 'none'}`, '');
  const r = config.events;
  out.push(`Event retention: ${r.max_rows || r.max_age_days ? `max_rows ${r.max_rows}, max_age_days ${r.max_age_days} (older events move to archive/events/)` : 'keep everything (events.max_rows and max_age_days are 0)'}`, '');
  const days = config.tasks.archive_after_days;
  out.push(`Task archive: ${archive.count} finished task${archive.count === 1 ? '' : 's'} in archive/tasks/ (\`baton show ID\` finds them); ${days ? `finished tasks move there ${days} day${days === 1 ? '' : 's'} after they last changed (tasks.archive_after_days)` : 'nothing moves there by itself (tasks.archive_after_days is 0); `baton archive` moves finished tasks'}`);
  return `${out.join('\n')}\n`;
}

/** Done of the tasks not cancelled, on the whole board and by goal and label. */
function progress(s: BoardSummary, archive: ArchiveView): string[] {
  const done = s.counts.done;
  const total = s.total - s.counts.cancelled;
  const more = [s.counts.cancelled ? `${s.counts.cancelled} cancelled, not counted` : '', archive.count ? `${archive.count} more finished in the archive` : ''].filter(Boolean);
  const out = [`**Progress: ${done} of ${total} done** ${progressBar(done, total)}${more.length ? ` · ${more.join(' · ')}` : ''}`, ''];
  if (s.goals.length) out.push(mdTable(['goal', 'done', 'progress'], s.goals.map((g) => [`${mdCode(g.key)} ${mdText(g.title, 60)}`, `${g.done} of ${g.total}`, progressBar(g.done, g.total)])), '');
  if (s.labels.length) out.push(mdTable(['label', 'done', 'progress'], s.labels.map((l) => [mdText(l.key), `${l.done} of ${l.total}`, progressBar(l.done, l.total)])), '');
  return out;
}

/** Reviews, open questions, gates waiting for a signal, blocked tasks with their reasons: each a part, only when there is one. */
function waitingOnPeople(state: State, s: BoardSummary): string[] {
  const out: string[] = [];
  if (s.review_queue.length) {
    out.push('### Reviews', '', mdTable(['task', 'title', 'status', 'author', 'reviewer', 'since'], s.review_queue.map((t) => [mdCode(t.id), mdText(t.title), t.status, who(t.assignee), who(t.reviewer), utcMinute(t.updated_at)])), '');
  }
  // Checkpoints: a child stopped on each until it is answered (baton answer ID "…").
  const questions = openQuestions(state);
  if (questions.length) {
    out.push('### Open questions', '');
    out.push(
      mdTable(
        ['question', 'from', 'to', 'task', 'text', 'asked at'],
        questions.slice(0, 50).map((q) => [mdCode(q.id), mdCode(q.from_agent), mdCode(q.to), q.task ? mdCode(q.task) : '—', mdText(`${q.text.length > 200 ? `${q.text.slice(0, 200)}…` : q.text}${q.choices.length ? ` (${q.choices.join(' / ')})` : ''}`), utcMinute(q.asked_at)]),
      ),
      '',
    );
    if (questions.length > 50) out.push(`…and ${questions.length - 50} more; \`baton inbox\` of each target lists them.`, '');
  }
  if (s.gates_waiting.length) {
    out.push('### Gates waiting for a signal', '', mdTable(['gate', 'title', 'waits for', 'since'], s.gates_waiting.map((t) => [mdCode(t.id), mdText(t.title), t.gate ? mdCode(t.gate.type) : '—', utcMinute(t.updated_at)])), '');
    if (s.gates_waiting_count > s.gates_waiting.length) out.push(`…and ${s.gates_waiting_count - s.gates_waiting.length} more; \`baton list --status waiting\` lists them.`, '');
  }
  if (s.blocked.length) {
    out.push('### Blocked', '', mdTable(['task', 'title', 'reason', 'since'], s.blocked.map((t) => [mdCode(t.id), mdText(t.title), mdText(t.blocked?.reason ?? ''), utcMinute(t.blocked?.at)])), '');
    if (s.counts.blocked > s.blocked.length) out.push(`…and ${s.counts.blocked - s.blocked.length} more; \`baton list --status blocked\` lists them.`, '');
  }
  return out;
}

/** Why a ready task ranks where it does: its score and the terms that make it, the biggest first. */
function why(c: Candidate): string {
  const terms: [string, number][] = [
    [`P${c.task.priority}`, c.terms.priority],
    ['critical path', c.terms.critical_path],
    ['unblocks', c.terms.downstream],
    ['age', c.terms.age],
  ];
  const parts = terms.filter(([, n]) => n !== 0).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} +${Number(n.toFixed(1))}`);
  return `${Number(c.score.toFixed(1))}${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

const CLASS_STYLE: Record<string, string> = {
  todo: 'fill:#eeeeee,stroke:#999999',
  ready: 'fill:#dff0d8,stroke:#3c763d',
  in_progress: 'fill:#d9edf7,stroke:#31708f',
  review: 'fill:#fcf8e3,stroke:#8a6d3b',
  blocked: 'fill:#f2dede,stroke:#a94442',
  waiting: 'fill:#ede7f6,stroke:#5e35b1',
};

function graphClass(state: State, t: Task): string {
  switch (t.status) {
    case 'in_progress':
    case 'handoff':
    case 'changes_requested':
      return 'in_progress';
    case 'review':
    case 'in_review':
      return 'review';
    case 'blocked':
      return 'blocked';
    case 'waiting':
      return 'waiting';
    default:
      return t.depends_on.every((d) => !state.tasks[d] || ['done', 'cancelled'].includes(state.tasks[d]!.status)) ? 'ready' : 'todo';
  }
}

/**
 * What a git host renders, and what reads on its page: Mermaid beyond `edges` and `chars` is
 * refused; beyond `boxes`, or more than `across` boxes side by side, a page of about 830 px scales
 * the picture until its text is too small to read (test/graph.test.ts renders it to check).
 */
const GRAPH = { boxes: 20, across: 3, edges: 500, chars: 50_000, label: 24 };

const LEGEND =
  'Colours: blue in progress (or handed off, or sent back to its author), yellow in review, green ready, grey waiting on its dependencies, red blocked, purple a gate waiting for its signal. A frame is a goal.';

/**
 * Each task's rank among `tasks`: 0 for one that waits on none of them, else one more than the
 * highest of those it waits on (Kahn's order: no recursion, whatever the board's shape).
 */
function ranksOf(tasks: Task[]): Map<string, number> {
  const ids = new Set(tasks.map((t) => t.id));
  const waitsOn = new Map(tasks.map((t) => [t.id, t.depends_on.filter((d) => ids.has(d))]));
  const dependents = new Map<string, string[]>();
  for (const [id, deps] of waitsOn) for (const d of deps) appendTo(dependents, d, id);
  const left = new Map([...waitsOn].map(([id, deps]) => [id, deps.length]));
  const rank = new Map<string, number>();
  const queue = tasks.filter((t) => left.get(t.id) === 0).map((t) => t.id);
  for (const id of queue) rank.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    for (const n of dependents.get(id) ?? []) {
      rank.set(n, Math.max(rank.get(n) ?? 0, rank.get(id)! + 1));
      left.set(n, left.get(n)! - 1);
      if (left.get(n) === 0) queue.push(n);
    }
  }
  return rank;
}

/**
 * The graph's shape on the page: left to right when its chains are at most `across` deep (boxes
 * stack down the page), top down when no rank holds more than `across` boxes (a long chain runs
 * down it), else left to right with the tasks deeper than `across` left out.
 */
function layout(tasks: Task[]): { direction: 'LR' | 'TD'; tasks: Task[]; deep: number } {
  const ranked = ranksOf(tasks);
  // A task in a dependency cycle (a merge can make one; doctor names it) has no rank: it shows as a first one.
  const rank = new Map(tasks.map((t) => [t.id, ranked.get(t.id) ?? 0]));
  const depth = Math.max(0, ...rank.values()) + 1;
  const perRank = new Map<number, number>();
  for (const r of rank.values()) perRank.set(r, (perRank.get(r) ?? 0) + 1);
  if (depth <= GRAPH.across) return { direction: 'LR', tasks, deep: 0 };
  if (Math.max(...perRank.values()) <= GRAPH.across) return { direction: 'TD', tasks, deep: 0 };
  const kept = tasks.filter((t) => rank.get(t.id)! < GRAPH.across);
  return { direction: 'LR', tasks: kept, deep: tasks.length - kept.length };
}

function renderGraph(state: State, s: BoardSummary): string[] {
  // One line a box (a git host's Mermaid wraps a label past about 200 px): the id and as much of the title as fits.
  const title = (t: Task) => mermaidLabel(t.title, Math.max(8, GRAPH.label - t.id.length - 2));
  const label = (t: Task, i: number) => `  n${i}["${t.id}: ${title(t)}"]:::${graphClass(state, t)}`;
  const styles = Object.entries(CLASS_STYLE).map(([cls, style]) => `  classDef ${cls} ${style}`);
  let chars = '```mermaid\nflowchart LR\n```\n'.length + styles.join('\n').length + 1;
  let edges = 0;
  const chosenIds = new Set<string>();
  const fits = (chosen: Task[], next: Task): boolean => {
    const added = next.depends_on.filter((d) => chosenIds.has(d)).length + chosen.filter((c) => c.depends_on.includes(next.id)).length;
    const cost = label(next, chosen.length).length + 1 + added * `  n${chosen.length} --> n${chosen.length}\n`.length;
    if (edges + added > GRAPH.edges || chars + cost > GRAPH.chars) return false;
    edges += added;
    chars += cost;
    chosenIds.add(next.id);
    return true;
  };
  // Goals are the frames their tasks sit in, not boxes of their own.
  const f = frontier(state, { ...s, open: s.open.filter((t) => t.kind !== 'goal'), ranked_ready: s.ranked_ready.filter((t) => t.kind !== 'goal') }, GRAPH.boxes, fits);
  if (f.total === 0) return ['_No unfinished tasks._'];
  const shape = layout(f.tasks.map((c) => c.task));
  const tasks = shape.tasks;
  const node = new Map(tasks.map((t, i) => [t.id, `n${i}`]));
  const lines = ['```mermaid', `flowchart ${shape.direction}`];
  tasks.forEach((t, i) => lines.push(label(t, i)));
  let shownEdges = 0;
  for (const t of tasks) {
    for (const d of t.depends_on) {
      if (!node.has(d)) continue;
      lines.push(`  ${node.get(d)} --> ${node.get(t.id)}`);
      shownEdges++;
    }
  }
  // A frame for each goal, around its tasks that are shown (a goal's goal frames nothing more).
  const goalOf = (t: Task) => (t.parent && state.tasks[t.parent]?.kind === 'goal' ? t.parent : null);
  const byGoal = new Map<string, string[]>();
  for (const t of tasks) {
    const goal = goalOf(t);
    if (goal) appendTo(byGoal, goal, node.get(t.id)!);
  }
  // Tasks in no frame and joined to no other shown one would stack in one long column (left to
  // right) or one wide row (top down): invisible links set them in rows of `across` instead.
  const joined = new Set<string>();
  for (const t of tasks) for (const d of t.depends_on) if (node.has(d)) joined.add(d).add(t.id);
  const alone = tasks.filter((t) => !joined.has(t.id) && !goalOf(t)).map((t) => node.get(t.id)!);
  for (let i = 0; i + 1 < alone.length; i++) if ((i + 1) % GRAPH.across) lines.push(`  ${alone[i]} ~~~ ${alone[i + 1]}`);
  // Each frame says its direction: Mermaid turns a frame with no link out of it the other way.
  const direction = shape.direction === 'TD' ? 'TB' : 'LR';
  [...byGoal].forEach(([goal, members], i) => lines.push(`  subgraph g${i}["${goal}: ${title(state.tasks[goal]!)}"]`, `    direction ${direction}`, ...members.map((m) => `    ${m}`), '  end'));
  lines.push(...styles, '```', '', LEGEND);
  const whole = f.whole && tasks.length === f.tasks.length;
  if (!whole) {
    const count = (why: string) => f.tasks.filter((c) => c.why === why && node.has(c.task.id)).length;
    lines.push(
      '',
      `Showing ${tasks.length} of ${f.total} unfinished tasks, ${
        count('unfinished') ? 'in flight first, then by priority' : `the frontier: ${count('in flight')} of ${f.in_flight} in flight, ${count('ready')} of ${f.ready} ready, and ${count('unblocked next')} they unblock next`
      }, with the ${shownEdges} dependencies between them. Left out: the other ${f.total - tasks.length}${shape.deep ? ` (${shape.deep} of them more than ${GRAPH.across} steps down a chain of the shown ones)` : ''}, so that the picture reads on a page (at most ${GRAPH.boxes} boxes, ${GRAPH.across} side by side); \`baton list\` has them all.`,
    );
  }
  return lines;
}
