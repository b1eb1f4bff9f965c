// Makes dist/mcp-prebuilt.json: what the real `baton mcp` (the SDK answering) says to `initialize`,
// for each 2025 protocol revision the SDK serves, and to `tools/list` (every tool of the `all`
// tier). The server's front (src/mcp/front.ts) answers those from it before it loads the SDK, so a
// client's first request already lists baton's tools. Run by build.mjs after the bundle is built.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SUPPORTED_PROTOCOL_VERSIONS } = require('@modelcontextprotocol/server');

const root = __dirname;
const bin = path.join(root, 'dist', 'baton.cjs');
const VERSION = require('./package.json').version;

/** One server: initialize at `version`, then (when asked) tools/list; their results. */
async function ask(firstExchange, version, list) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-prebuilt-'));
  const env = { ...process.env, BATON_MCP_PREBUILT: '0', NO_COLOR: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('BATON_') && k !== 'BATON_MCP_PREBUILT') delete env[k];
  try {
    const { messages } = await firstExchange({ bin, args: ['--tools', 'all'], cwd, env, version, client: 'baton-build', then: list ? [{ method: 'tools/list' }] : [] });
    const failed = Object.values(messages).find((m) => m.error);
    if (failed) throw new Error(`${version}: ${JSON.stringify(failed.error)}`);
    if (!messages[1] || (list && !messages[2])) throw new Error(`${version}: the server did not answer`);
    return { initialize: messages[1].result, tools: messages[2]?.result.tools };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

(async () => {
  const { firstExchange } = await import('./bench/mcp-exchange.mjs');
  const versions = SUPPORTED_PROTOCOL_VERSIONS.filter((v) => /^\d{4}-\d{2}-\d{2}$/.test(v));
  const answers = await Promise.all(versions.map((v, i) => ask(firstExchange, v, i === 0)));
  const initialize = {};
  versions.forEach((v, i) => {
    // A revision the SDK would answer with another (it offers its own) is left to the SDK.
    if (answers[i].initialize.protocolVersion === v) initialize[v] = answers[i].initialize;
  });
  const tools = Object.fromEntries(answers[0].tools.map((t) => [t.name, t]));
  fs.writeFileSync(path.join(root, 'dist', 'mcp-prebuilt.json'), JSON.stringify({ version: VERSION, initialize, tools }));
})().catch((e) => {
  console.warn(`build: no MCP record (baton mcp still works, only starts slower): ${e.message}`);
});
