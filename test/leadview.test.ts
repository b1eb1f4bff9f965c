import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, baton, batonIn, makeBoard, makeBoardIn, paneShows, type TestBoard, type TestBoardIn } from './helpers.js';
import { CONFIG, state, T0, task } from './inprocess.js';
import { progressBar } from '../src/render/markdown.js';
import { renderWatch } from '../src/render/watchframe.js';
import { summarize } from '../src/rules/summary.js';

/**
 * The lead's view (issue: a board a person understands at a glance): STATUS.md opens with
 * progress, what is in flight, what waits on people and what is ready next with why; `status` and
 * `show` say what the JSON knows; `watch` fits its terminal, most important rows first.
 */

interface Agent {
  env: Record<string, string>;
}

async function joinIn(board: TestBoardIn, name: string, role = 'worker'): Promise<Agent> {
  const r = await board.json('join', '--name', name, '--role', role);
  expect(r._code, JSON.stringify(r)).toBe(0);
  return { env: { BATON_SESSION: r.session.id, BATON_TOKEN: r.token } };
}

async function asIn(board: TestBoardIn, who: Agent, ...args: string[]) {
  const r = await batonIn(args, { cwd: board.root, env: who.env });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/** A board with something in every part: a goal, labels, work in flight, a review, a question, a gate, a blocked task, done work. */
async function liveBoard(): Promise<TestBoardIn> {
  const b = await makeBoardIn();
  await b.run('add', 'Checkout', '--id', 'checkout', '--kind', 'goal');
  await b.run('add', 'Cart API', '--id', 'cart', '--parent', 'checkout', '--priority', 'P0', '--label', 'api');
  await b.run('add', 'Payment form', '--id', 'pay', '--parent', 'checkout', '--depends-on', 'cart', '--label', 'ui');
  await b.run('add', 'Schema', '--id', 'schema', '--priority', 'P1', '--label', 'api');
  await b.run('add', 'Copy edit', '--id', 'copy', '--priority', 'P3');
  await b.run('add', 'Docs', '--id', 'docs', '--priority', 'P2');
  await b.run('add', 'Release', '--id', 'rel', '--kind', 'gate', '--gate-type', 'ci');
  await b.run('block', 'docs', '--reason', 'waiting for the API to settle');
  const w = await joinIn(b, 'w');
  const rv = await joinIn(b, 'rv', 'reviewer');
  await asIn(b, w, 'claim', 'schema');
  await asIn(b, w, 'done', 'schema', '--notes', 'tables in place', '--result-text', '{"tables":4}');
  await asIn(b, rv, 'review', 'start', 'schema');
  await asIn(b, rv, 'review', 'approve', 'schema', '--notes', 'reads well');
  await asIn(b, w, 'claim', 'cart');
  await asIn(b, w, 'ask', '--to', 'orchestrator', 'Which payment provider?');
  return b;
}

const sections = (md: string) => md.split('\n').filter((l) => /^#{2,3} /.test(l));

describe("STATUS.md: what a lead needs first", () => {
  it('opens with progress, then in flight, what waits on people, ready next with why; the settings come last', async () => {
    const b = await liveBoard();
    const md = readFileSync(join(b.dir, 'STATUS.md'), 'utf8');
    expect(sections(md)).toEqual([
      '## In flight',
      '## Waiting on people',
      '### Open questions',
      '### Gates waiting for a signal',
      '### Blocked',
      '## Ready next',
      '## Recently done',
      '## Dependency graph',
      '## Board settings',
    ]);
    const head = md.slice(0, md.indexOf('## In flight'));
    // Done of the tasks not cancelled, on the board and by goal and label.
    expect(head).toMatch(/\*\*Progress: 1 of 7 done\*\* █░░░░░░░░░ 14%/);
    expect(head).toContain('| `checkout` Checkout | 0 of 2 | ░░░░░░░░░░ 0% |');
    expect(head).toContain('| api | 1 of 2 | █████░░░░░ 50% |');
    expect(head).toContain('times in UTC');
    // In flight, by whom; waiting on people, with the reason.
    expect(md).toMatch(/\| `cart` \| Cart API \| `w` \| in_progress \| \d{4}-\d\d-\d\d \d\d:\d\d \| \d{4}-\d\d-\d\d \d\d:\d\d \|/);
    expect(md).toMatch(/\| `docs` \| Docs \| waiting for the API to settle \| \d{4}-\d\d-\d\d \d\d:\d\d \|/);
    expect(md).toContain('| `rel` | Release | `ci` |');
    expect(md).toContain('Which payment provider?');
    // Ready next says why each ranks where it does: P3 `copy` after the P2-free chain.
    const ready = md.slice(md.indexOf('## Ready next'), md.indexOf('## Recently done'));
    expect(ready).toMatch(/\| 1 \| `copy` \| Copy edit \| P3 \| — \| [\d.]+(: .+)? \|/);
    expect(ready).toContain('why');
    // Times to the minute: no stored stamp (seconds, milliseconds) outside the graph.
    expect(md.slice(0, md.indexOf('## Dependency graph'))).not.toMatch(/\d\d:\d\d:\d\d/);
    // Settings and counts below everything else, zero counts left out.
    const settings = md.slice(md.indexOf('## Board settings'));
    expect(settings).toMatch(/Tasks by status: todo \d+ · in_progress 1 · blocked 1 · waiting 1 · done 1\n/);
    expect(settings).toContain('Event retention:');
    expect(settings).toContain('Task archive:');
    expect(md).not.toContain('## Counts');
    // Still byte-identical for the same state: rendering again changes nothing.
    const again = await b.json('render');
    expect(again.written).toEqual([]);
  });

  it('an empty board says so in each part', async () => {
    const b = await makeBoardIn();
    const md = readFileSync(join(b.dir, 'STATUS.md'), 'utf8');
    for (const line of ['**Progress: 0 of 0 done**', '_Nothing in flight._', '_Nothing waits on people._', '_Nothing ready._', '_Nothing done yet._']) expect(md).toContain(line);
  });
});

describe('status and show say what the JSON knows', () => {
  it('status: progress, what waits on people, recently done; its JSON has the questions and gates too', async () => {
    const b = await liveBoard();
    const text = (await b.run('status')).stdout;
    expect(text).toContain('Progress: 1 of 7 done (14%)');
    expect(text).toMatch(/Open questions:\n\s+q-\S+\s+w → orchestrator: Which payment provider\?/);
    expect(text).toMatch(/Gates waiting for a signal:\n\s+rel\s+Release {2}\(ci\)/);
    expect(text).toMatch(/Blocked:\n\s+docs\s+Docs {2}— waiting for the API to settle/);
    expect(text).toMatch(/Recently done:\n\s+schema\s+Schema {2}\d{4}-\d\d-\d\d \d\d:\d\dZ/);
    const json = await b.json('status');
    expect(json.questions.map((q: { text: string }) => q.text)).toEqual(['Which payment provider?']);
    expect(json.gates.map((t: { id: string }) => t.id)).toEqual(['rel']);
  });

  it('show: the reviewer, the result summary, and the notes with the review notes marked', async () => {
    const b = await liveBoard();
    const text = (await b.run('show', 'schema')).stdout;
    expect(text).toContain('reviewer rv');
    expect(text).toContain('result (json, 12 bytes): JSON object with key(s): tables');
    expect(text).toContain('the whole of it: baton result schema');
    expect(text).toMatch(/notes:\n\s+\d{4}-\d\d-\d\d \d\d:\d\dZ w: tables in place\n\s+\d{4}-\d\d-\d\d \d\d:\d\dZ rv \(review\): reads well/);
  });
});

describe('watch fits its terminal', () => {
  function busyBoard(): TestBoard {
    const b = makeBoard();
    for (let i = 0; i < 30; i++) b.run('add', `filler ${i}`, '--id', `f${i}`);
    b.run('add', 'Blocked one', '--id', 'stuck');
    b.run('block', 'stuck', '--reason', 'needs a key');
    b.run('add', 'Release', '--id', 'rel', '--kind', 'gate', '--gate-type', 'ci');
    for (let i = 0; i < 10; i++) {
      const r = b.json('join', '--name', `a${i}`, '--role', 'worker');
      const env = { BATON_SESSION: r.session.id, BATON_TOKEN: r.token };
      if (i < 8) expect(baton(['claim', `f${i}`], { cwd: b.root, env }).code).toBe(0);
      if (i === 0) expect(baton(['ask', '--to', 'orchestrator', 'Ship on Friday?'], { cwd: b.root, env }).code).toBe(0);
    }
    return b;
  }

  it('at 80×24: the header and the most important rows first, how many it left out, blocked, questions, gates and idle agents', async () => {
    execFileSync('tmux', ['-V']);
    const b = busyBoard();
    const session = `baton-watch-small-${process.pid}-${Date.now()}`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '80', '-y', '24', `cd ${JSON.stringify(b.root)} && NO_COLOR=1 ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} watch; sleep 30`]);
    try {
      const pane = await paneShows(session, 'Recent events');
      const lines = pane.replace(/\n+$/, '').split('\n');
      expect(lines.length).toBeLessThanOrEqual(24);
      expect(lines[0]).toMatch(/ · revision \d+ · profile balanced · .* UTC · q quits/);
      expect(lines[1]).toMatch(/^\d+ rows not shown · /);
      expect(pane).toMatch(/In flight \(8\):/);
      expect(pane).toContain('Open questions (1):');
      expect(pane).toContain('Gates waiting for a signal (1):');
      expect(pane).toMatch(/Blocked \(1\):\n\s+stuck\s+Blocked one — needs a key/);
      expect(pane).toMatch(/Idle agents \(2\):\n\s+a8, a9/);
      expect(pane).toMatch(/Ready next \(22, 2\d not shown\):/);
      for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    } finally {
      execFileSync('tmux', ['kill-session', '-t', session]);
    }
  });
});

describe('session hygiene', () => {
  it('a session a newer one of the same agent replaced stops counting as live, unless it holds work or speaks again', async () => {
    const b = await makeBoardIn();
    await b.run('add', 'held', '--id', 'held');
    const first = await joinIn(b, 'w');
    const second = await joinIn(b, 'w');
    const third = await joinIn(b, 'w');
    // The second still holds a task: it stays, replaced or not.
    await asIn(b, second, 'claim', 'held');
    const third2 = await joinIn(b, 'w');
    const listed = await b.json('sessions');
    expect(listed.sessions.map((s: { id: string }) => s.id)).toEqual([second.env.BATON_SESSION, third2.env.BATON_SESSION]);
    expect(listed.not_shown).toEqual({ stale: 0, replaced: 2, ended: 0 });
    const all = (await b.json('sessions', '--all')).sessions as { id: string; state: string }[];
    expect(all.filter((s) => s.state === 'replaced').map((s) => s.id).sort()).toEqual([first.env.BATON_SESSION, third.env.BATON_SESSION].sort());
    const md = readFileSync(join(b.dir, 'SESSIONS.md'), 'utf8');
    expect(md).toContain(`\`${second.env.BATON_SESSION}\``);
    expect(md).not.toContain(`\`${first.env.BATON_SESSION}\``);
    expect(md).toContain('Not shown: 2 replaced by a newer session of the same agent on the same host.');
    expect(readFileSync(join(b.dir, 'AGENTS.md'), 'utf8')).toMatch(/\| `w` \| worker \| — \| .+ \| 2 \| `held` in_progress until \d{4}-\d\d-\d\d \d\d:\d\d \| \d{4}-\d\d-\d\d \d\d:\d\d \|/);
    // The first speaks again: it counts again.
    await asIn(b, first, 'heartbeat');
    expect((await b.json('sessions')).sessions.map((s: { id: string }) => s.id)).toContain(first.env.BATON_SESSION);
    // Its agent leaves from the newest: the older ones left behind are not live either.
    await asIn(b, third2, 'leave');
    expect((await b.json('sessions')).not_shown).toMatchObject({ ended: 1 });
  });

  it('every table a person reads has headers: sessions, agents, ps', async () => {
    const b = await makeBoardIn();
    await joinIn(b, 'w');
    expect((await b.run('sessions')).stdout.split('\n')[0]).toMatch(/^SESSION\s+AGENT\s+ROLE\s+STATE\s+WHERE \/ HOLDS$/);
    expect((await b.run('agents')).stdout.split('\n')[0]).toMatch(/^AGENT\s+ROLE\s+SPECIALTIES\s+LIVE\s+HOLDS$/);
    expect(readFileSync(join(b.dir, 'AGENTS.md'), 'utf8')).toContain('| agent | role | specialties | host | open sessions | holds | last seen |');
  });
});

describe('what the review of the lead view found', () => {
  it('a label with backticks, pipes and markup stays one cell of its row', async () => {
    const b = await makeBoardIn();
    await b.run('add', 'labelled', '--label', 'x` | <b>inj</b> [link](http://evil) `y');
    const md = readFileSync(join(b.dir, 'STATUS.md'), 'utf8');
    const row = md.split('\n').find((l) => l.includes('inj'))!;
    expect(row.replace(/\\\|/g, '').split('|')).toHaveLength(5);
    expect(row).not.toContain('<b>');
    expect(row).not.toContain('](http');
  });

  it('percentages are whole numbers of the counts, and the bar is full only when all is done', () => {
    expect(progressBar(7, 25)).toBe('██░░░░░░░░ 28%');
    expect(progressBar(29, 100)).toBe('██░░░░░░░░ 29%');
    expect(progressBar(19, 20)).toBe('█████████░ 95%');
    expect(progressBar(20, 20)).toBe('██████████ 100%');
    expect(progressBar(0, 0)).toBe('░░░░░░░░░░ 0%');
  });

  it("watch's frame never wraps: wide characters take two columns, bidi marks and controls are not spelled out", () => {
    const titles = ['漢字のタイトルがとても長いタスクです漢字のタイトルがとても長いタスクです', `x${'\u200e'.repeat(50)}y`, 'tab\there\u202Eevil'];
    const s = state(titles.map((title, i) => task(`t${i}`, { title })));
    const snap = { summary: summarize(s, CONFIG, 8), events: [], questions: [], idle: [], inbox: null };
    const lines = renderWatch(snap, Date.parse(T0), 40, 12);
    expect(lines.length).toBeLessThanOrEqual(12);
    const columns = (l: string) => [...l].reduce((n, ch) => n + (/[\u3000-\u9fff]/.test(ch) ? 2 : 1), 0);
    for (const l of lines) {
      expect(columns(l), l).toBeLessThanOrEqual(40);
      expect(l).not.toMatch(/[\u0000-\u001f\u200e\u202e]/);
    }
  });

  it("the graph says when it left out tasks deeper than a page's three steps", async () => {
    const b = await makeBoardIn();
    await b.run('add', 'one', '--id', 'a1');
    for (const i of [2, 3, 4]) await b.run('add', `step ${i}`, '--id', `a${i}`, '--depends-on', `a${i - 1}`, '--priority', i === 4 ? 'P0' : 'P2');
    for (const i of [1, 2, 3, 4]) await b.run('add', `lone ${i}`, '--id', `l${i}`, '--priority', 'P3');
    const md = readFileSync(join(b.dir, 'STATUS.md'), 'utf8');
    expect(md).toMatch(/Showing 7 of 8 unfinished tasks, .*Left out: the other 1 \(1 of them more than 3 steps down a chain of the shown ones\)/);
  });
});
