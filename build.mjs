// Bundles the CLI into CommonJS files under dist/. Start-up is the product (agents run baton
// hundreds of times an hour); measured on Node 20:
//  - one bundled file instead of hundreds of modules resolved from node_modules;
//  - CommonJS, not an ES module entry: Node's ESM loader alone costs ~15 ms a process;
//  - big dependencies that most commands never touch (yaml, zod) in their own
//    files under dist/vendor/, required only when used, so a read compiles ~100 KB, not 260 KB.
// The source stays ESM TypeScript; `await import()` of a command becomes a lazily initialised
// section of the bundle.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

/** Module → what its vendor file exports (ESM re-exports tree-shake to just that). */
const VENDOR = {
  // yaml's ESM build (its "browser" entry is plain ESM); its "node" entry is CommonJS.
  yaml: "export { parseDocument } from './node_modules/yaml/browser/index.js';",
  // The zod/mini functions src/ uses; the build fails loudly if one is missing here.
  'zod/mini': `export { ${[
    'string', 'nullable', 'object', 'gte', 'array', 'int', '_default', 'record', 'number', 'union', 'enum',
    'looseObject', 'boolean', 'unknown', 'minLength', 'transform', 'strictObject', 'regex', 'prefault',
    'positive', 'pipe', 'optional', 'lte', 'literal', 'describe', 'safeParse', 'extend', 'toJSONSchema',
  ].join(', ')} } from 'zod/mini';
  // zod/mini ships no messages by default ("Invalid input"); English ones name what was expected.
  import { config } from 'zod/mini'; import en from 'zod/v4/locales/en.js'; config(en());`,
  // Only for --watch and colour on a TTY; loaded with import(), so only those pay for them.
  chokidar: "export { watch } from 'chokidar';",
  chalk: "module.exports = require('chalk').default;",
  // The client files `mcp config` and `hooks install` edit: JSON with comments (VS Code's own
  // parser, its ESM build: the UMD one requires its parts at run time) and Codex's TOML.
  'jsonc-parser': "export { applyEdits, findNodeAtLocation, modify, parse, parseTree, printParseErrorCode } from './node_modules/jsonc-parser/lib/esm/main.js';",
  '@decimalturn/toml-patch': "export { parse, patch } from '@decimalturn/toml-patch';",
  // Only `baton mcp` loads the SDK (and the full zod it brings).
  '@modelcontextprotocol/server': `export { Server } from '@modelcontextprotocol/server';
  export { serveStdio } from '@modelcontextprotocol/server/stdio';`,
};
/** Imports served by another one's vendor file. */
const ALIASES = { '@modelcontextprotocol/server/stdio': '@modelcontextprotocol/server' };
const vendorFile = (name) => `vendor/${(ALIASES[name] ?? name).replace(/^\W+/, '').replace(/\W+/g, '-')}.cjs`;

await Promise.all(
  Object.entries(VENDOR).map(([name, entry]) =>
    build({ ...common, stdin: { contents: entry, resolveDir: '.' }, outfile: `dist/${vendorFile(name)}` }),
  ),
);

await build({
  ...common,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/baton.cjs',
  plugins: [
    {
      name: 'vendor',
      setup(b) {
        b.onResolve({ filter: new RegExp(`^(${[...Object.keys(VENDOR), ...Object.keys(ALIASES)].join('|')})$`) }, (a) => ({ path: `./${vendorFile(a.path)}`, external: true }));
        // `import text from './x.md?raw'` (vitest's spelling) compiles the file in as a string.
        b.onResolve({ filter: /\?raw$/ }, (a) => ({ path: join(a.resolveDir, a.path.replace(/\?raw$/, '')), namespace: 'raw' }));
        b.onLoad({ filter: /.*/, namespace: 'raw' }, (a) => ({ contents: readFileSync(a.path, 'utf8'), loader: 'text' }));
      },
    },
    {
      // commander requires node:child_process when it loads, for subcommands that are separate
      // executables, which baton has none of: about 2 ms of every process. Required when used.
      name: 'lazy-child-process',
      setup(b) {
        b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (a) => {
          const text = readFileSync(a.path, 'utf8');
          const eager = "const childProcess = require('node:child_process');";
          if (!text.includes(eager)) throw new Error(`build: ${a.path} no longer has the line the lazy-child-process plugin replaces`);
          return { contents: text.replace(eager, "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };"), loader: 'js' };
        });
      },
    },
  ],
  define: { 'import.meta.url': '__baton_url' },
  banner: { js: "var __baton_url=require('url').pathToFileURL(__filename).href;" },
});

// What the MCP server answers before it loads the SDK (see src/mcp/front.ts).
execFileSync(process.execPath, ['build-mcp.cjs'], { stdio: 'inherit' });

// The V8 code cache the bin loads the bundle with (see bin/baton.cjs).
try {
  execFileSync(process.execPath, ['build-cache.cjs'], { stdio: 'inherit' });
} catch {
  console.warn('build: no code cache (baton still works, only starts slower)');
}
