#!/usr/bin/env node
'use strict';
// A CommonJS shim on purpose: an ES module entry would start Node's ESM loader, which costs
// more than everything else a read does. It compiles the bundle with the V8 code cache that
// `npm install` made (dist/baton.cjs.cache, see build.mjs), so a command skips most parsing
// and compiling. A cache V8 rejects (another Node version) only costs that saving.
const fs = require('node:fs');
const path = require('node:path');
const file = path.join(__dirname, '..', 'dist', 'baton.cjs');
let cachedData;
try {
  cachedData = fs.readFileSync(`${file}.cache`);
} catch {
  cachedData = undefined;
}
if (!cachedData) {
  require(file);
} else {
  const vm = require('node:vm');
  const Module = require('node:module');
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(path.dirname(file));
  const req = (id) => mod.require(id);
  req.resolve = (id) => Module._resolveFilename(id, mod);
  script.runInThisContext()(mod.exports, req, mod, file, path.dirname(file));
}
