import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baton, makeBoard } from './helpers.js';

/**
 * STATUS.md's graph as a person sees it on a git host: the Mermaid block rendered by Mermaid 11
 * (the package's own browser bundle, the major version git hosts render) in headless Chromium
 * (Debian's, which .ci/run installs), in a column as wide as a repository's README on a git host
 * (830 px). The picture must fit the page and its text must stay readable, at every board size.
 */

const CHROMIUM = '/usr/bin/chromium';
const PAGE_WIDTH = 830;
/** About three screens: a graph taller than this is a scroll, not a picture. */
const MAX_HEIGHT = 2600;
/** The smallest label size, in CSS pixels once the picture is scaled to the page, that reads. */
const MIN_FONT = 12;

const mermaidBundle = createRequire(import.meta.url).resolve('mermaid/dist/mermaid.min.js');
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is needed to render STATUS.md's graph (apt-get install chromium; .ci/run installs it): no ${CHROMIUM}`);
  // Without the background-networking flags Chromium keeps trying hosts a closed network refuses.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

interface Rendered {
  /** The picture's size on the page, in CSS pixels. */
  width: number;
  height: number;
  /** A box label's font size on the page (scaled with the picture). */
  font: number;
  boxes: number;
}

/** Renders the first Mermaid block of `md` as a git host does: the SVG at its own size, never wider than the column. */
async function render(md: string): Promise<Rendered> {
  const code = /```mermaid\n([\s\S]*?)```/.exec(md)?.[1];
  expect(code, 'a Mermaid block').toBeTruthy();
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.setContent(`<html><body style="margin:0"><article style="width:${PAGE_WIDTH}px"><div id="graph"></div></article></body></html>`);
    await page.addScriptTag({ path: mermaidBundle });
    return await page.evaluate(async (text) => {
      const m = (globalThis as unknown as { mermaid: { initialize(o: object): void; render(id: string, text: string): Promise<{ svg: string }> } }).mermaid;
      m.initialize({ startOnLoad: false });
      const host = document.getElementById('graph')!;
      host.innerHTML = (await m.render('status-graph', text)).svg;
      const svg = host.querySelector('svg')!;
      const natural = svg.viewBox.baseVal.width;
      const box = svg.getBoundingClientRect();
      const label = svg.querySelector('.node .nodeLabel') ?? svg.querySelector('.node');
      const font = parseFloat(getComputedStyle(label!).fontSize);
      return { width: box.width, height: box.height, font: (font * box.width) / natural, boxes: svg.querySelectorAll('.node').length };
    }, code!);
  } finally {
    await page.close();
  }
}

/**
 * A board of `n` tasks shaped like real work: goals of 50 tasks each, in chains of five (each
 * waiting on the one before), some tasks sharing a dependency, a few in flight.
 */
function board(n: number) {
  const b = makeBoard(['--profile', 'throughput']);
  const plan: object[] = [];
  const goals = Math.max(1, Math.floor(n / 50));
  for (let g = 0; g < goals; g++) plan.push({ id: `g${g}`, title: `Goal number ${g}: a part of the product`, kind: 'goal' });
  for (let i = 0; i < n - goals; i++) {
    const deps = i % 5 ? [`t${i - 1}`] : i % 15 === 0 && i ? [`t${i - 3}`] : [];
    plan.push({ id: `t${i}`, title: `Task ${i}: build the piece that does its part well`, parent: `g${i % goals}`, depends_on: deps, priority: i % 4 });
  }
  writeFileSync(join(b.root, 'plan.json'), JSON.stringify(plan));
  expect(b.run('import', 'plan.json').code).toBe(0);
  const w = b.json('join', '--name', 'w', '--role', 'worker');
  const env = { BATON_SESSION: w.session.id, BATON_TOKEN: w.token };
  for (const id of ['t0', 't5', 't10'].slice(0, Math.ceil(n / 10))) expect(baton(['claim', id], { cwd: b.root, env }).code).toBe(0);
  return readFileSync(join(b.dir, 'STATUS.md'), 'utf8');
}

describe("STATUS.md's graph, rendered as a git host renders it", () => {
  it.each([10, 100, 1000, 10_000])('%i tasks: the picture fits an 830 px page and its text reads', async (n) => {
    const md = board(n);
    const r = await render(md);
    expect(r.width, JSON.stringify(r)).toBeLessThanOrEqual(PAGE_WIDTH);
    expect(r.height, JSON.stringify(r)).toBeLessThanOrEqual(MAX_HEIGHT);
    expect(r.font, JSON.stringify(r)).toBeGreaterThanOrEqual(MIN_FONT);
    expect(r.boxes).toBeGreaterThan(2);
    // A small board shows its whole graph; a big one says what it left out.
    if (n === 10) expect(md).not.toContain('Showing ');
    else expect(md).toMatch(new RegExp(`Showing \\d+ of ${n - Math.max(1, Math.floor(n / 50))} unfinished tasks`));
  }, 120_000);
});
