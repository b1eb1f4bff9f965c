// Makes dist/baton.cjs.cache: the V8 code cache of the bundle after it ran a typical write
// (`add` on a scratch board), so the functions most commands need are in it already.
// Run by build.mjs; a failure here only leaves the cache out.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const { execFileSync } = require('node:child_process');

const root = __dirname;
const file = path.join(root, 'dist', 'baton.cjs');
if (process.argv[2] !== '--child') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-cache-'));
  try {
    const env = { ...process.env, NO_COLOR: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('BATON_')) delete env[k];
    execFileSync(process.execPath, [file, 'init', '--name', 'warm'], { cwd: dir, env, stdio: 'ignore' });
    execFileSync(process.execPath, [file, 'add', 'warm up', '--depends-on', ''], { cwd: dir, env, stdio: 'ignore' });
    execFileSync(process.execPath, [__filename, '--child', 'add', 'warm up the cache', '--json'], { cwd: dir, env, stdio: 'ignore' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
} else {
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file });
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(path.dirname(file));
  const req = (id) => mod.require(id);
  req.resolve = (id) => Module._resolveFilename(id, mod);
  process.argv = [process.argv[0], file, ...process.argv.slice(3)];
  process.on('exit', () => fs.writeFileSync(`${file}.cache`, script.createCachedData()));
  script.runInThisContext()(mod.exports, req, mod, file, path.dirname(file));
}
