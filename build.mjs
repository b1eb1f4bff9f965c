// Bundles the CLI into dist/ so every invocation loads one minified file instead of
// resolving hundreds of modules from node_modules: start-up time is the product.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });

await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outdir: 'dist',
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  // yaml's ESM build (its "browser" entry is plain ESM) tree-shakes to what we use; its "node" entry is CommonJS.
  alias: { yaml: './node_modules/yaml/browser/index.js' },
  // Bundled CommonJS dependencies (proper-lockfile, picomatch) call require() for Node built-ins.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
});
