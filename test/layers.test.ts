import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering (STYLE.md, README "How the code is laid out"): a module imports only from its own
 * layer and below, the rules and render touch no file system, process, environment or clock (but the time passed in), and no module reaches
 * itself through its imports.
 */

const SRC = resolve(import.meta.dirname, '..', 'src');

/** The layers that compute only: what they need comes in as arguments. */
const PURE = new Set(['rules', 'render']);

/** Each folder's rank: a module may import its own rank and below. */
const RANK: Record<string, number> = { rules: 0, render: 1, store: 2, git: 3, clients: 3, commands: 4, table: 5, cli: 6, mcp: 6 };

function sources(dir: string, out: string[] = []): string[] {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every relative import of a module (static, dynamic, type-only), as paths under src/. */
function importsOf(file: string): string[] {
  // Comment lines left out: a comment may show how its module is imported.
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line))
    .join('\n');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
}

const layerOf = (path: string) => path.split('/')[0]!;

describe('the layering', () => {
  const files = sources(SRC).map((f) => relative(SRC, f));

  it('every folder of src/ is a layer, and every module lives in one', () => {
    const folders = [...new Set(files.filter((f) => f.includes('/')).map(layerOf))].sort();
    expect(folders).toEqual(Object.keys(RANK).sort());
  });

  it('imports run one way, and the rules and render touch no file system, process, environment or clock', () => {
    const breaks: string[] = [];
    for (const f of files) {
      if (!f.includes('/')) continue;
      for (const to of importsOf(join(SRC, f))) {
        if (RANK[layerOf(to)]! > RANK[layerOf(f)]!) breaks.push(`${f} -> ${to}`);
      }
      if (PURE.has(layerOf(f)) && /from 'node:(fs|child_process|os)'|process\.env|Date\.now\(\)|new Date\(\)/.test(readFileSync(join(SRC, f), 'utf8'))) breaks.push(`${f} uses I/O`);
    }
    expect(breaks, 'imports against the layering').toEqual([]);
  });

  it('no module reaches itself through its imports (no import cycles)', () => {
    const graph = new Map(files.map((f) => [f, importsOf(join(SRC, f)).filter((to) => files.includes(to))]));
    // Tarjan's strongly connected components: a component of more than one module is a cycle.
    let next = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const cycles: string[][] = [];
    const visit = (v: string) => {
      index.set(v, next);
      low.set(v, next++);
      stack.push(v);
      for (const w of graph.get(v)!) {
        if (!index.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
      if (low.get(v) === index.get(v)) {
        const component: string[] = [];
        let w: string;
        do component.push((w = stack.pop()!));
        while (w !== v);
        if (component.length > 1 || graph.get(v)!.includes(v)) cycles.push(component.sort());
      }
    };
    for (const f of files) if (!index.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
