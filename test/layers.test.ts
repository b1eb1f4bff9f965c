import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering (STYLE.md, README "How the code is laid out"): a module imports only from its own
 * layer and below, and the rules touch no file system, process or environment. What still breaks it
 * is listed below, each with what removes it; an entry that no longer breaks anything fails the
 * test too, so the list only shrinks.
 */

const SRC = resolve(import.meta.dirname, '..', 'src');

/** Each folder's rank: a module may import its own rank and below. */
const RANK: Record<string, number> = { rules: 0, render: 1, store: 2, git: 3, clients: 3, commands: 4, table: 5, cli: 6, mcp: 6, hooks: 6 };

/** Known breaks, as `from -> to` (or `file uses I/O`), to be removed by issue 26's later steps. */
const KNOWN = new Set([
  // The rules read the log, the cursors or git themselves; item 2 passes them in.
  'rules/handoffs.ts -> store/events.ts',
  'rules/handoffs.ts -> store/git.ts',
  'rules/inbox.ts -> store/cursors.ts',
  'rules/inbox.ts -> store/events.ts',
  'rules/merge.ts -> store/archive.ts',
  // Render reads archived tasks from their files; item 2 passes them in.
  'render/projections.ts -> store/archive.ts',
  'render/status.ts -> store/archive.ts',
  // The mcp and hook commands' records run the wiring they are; item 1 moves their runs to commands/.
  'table/mcp.ts -> mcp/server.ts',
  'table/mcp.ts -> hooks/hooks.ts',
]);

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
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
}

const layerOf = (path: string) => path.split('/')[0]!;

describe('the layering', () => {
  const files = sources(SRC).map((f) => relative(SRC, f));

  it('every folder of src/ is a layer, and every module lives in one', () => {
    const folders = [...new Set(files.filter((f) => f.includes('/')).map(layerOf))].sort();
    expect(folders).toEqual(Object.keys(RANK).sort());
  });

  it('imports run one way, and the rules touch no file system, process or environment (but for the known breaks, which only shrink)', () => {
    const breaks: string[] = [];
    for (const f of files) {
      if (!f.includes('/')) continue;
      for (const to of importsOf(join(SRC, f))) {
        if (RANK[layerOf(to)]! > RANK[layerOf(f)]!) breaks.push(`${f} -> ${to}`);
      }
      if (layerOf(f) === 'rules' && /from 'node:(fs|child_process|os)'|process\.env/.test(readFileSync(join(SRC, f), 'utf8'))) breaks.push(`${f} uses I/O`);
    }
    const unknown = [...new Set(breaks)].filter((b) => !KNOWN.has(b));
    expect(unknown, 'imports against the layering').toEqual([]);
    const gone = [...KNOWN].filter((k) => !breaks.includes(k));
    expect(gone, 'known breaks that are fixed: take them off the list').toEqual([]);
  });
});
