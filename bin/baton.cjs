#!/usr/bin/env node
'use strict';
// A CommonJS shim on purpose: an ES module entry would start Node's ESM loader, which costs
// more than everything else a read does (see build.mjs).
require('../dist/baton.cjs');
