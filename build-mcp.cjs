// Makes dist/mcp-prebuilt.json: what the real `baton mcp` (the SDK answering) says to `initialize`,
// for each 2025 protocol revision the SDK serves, and to `tools/list` (every tool of the `all`
// tier). The server's front (src/mcp/front.ts) answers those from it before it loads the SDK, so a
// client's first request already lists baton's tools. Run by build.mjs after the bundle is built.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { SUPPORTED_PROTOCOL_VERSIONS } = require('@modelcontextprotocol/server');

const root = __dirname;
const bin = path.join(root, 'dist', 'baton.cjs');
const { VERSION } = { VERSION: require('./package.json').version };

/** One server: initialize at `version`, then (when asked) tools/list; their results. */
function ask(version, list) {
  return new Promise((resolve, reject) => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-prebuilt-'));
    const env = { ...process.env, BATON_MCP_PREBUILT: '0', NO_COLOR: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('BATON_') && k !== 'BATON_MCP_PREBUILT') delete env[k];
    const child = spawn(process.execPath, [bin, 'mcp', '--tools', 'all'], { cwd, env, stdio: ['pipe', 'pipe', 'ignore'] });
    const send = (m) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...m })}\n`);
    const out = {};
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (m.error) return reject(new Error(`${version}: ${JSON.stringify(m.error)}`));
        if (m.id === 1) {
          out.initialize = m.result;
          if (!list) return child.stdin.end();
          send({ method: 'notifications/initialized' });
          send({ id: 2, method: 'tools/list' });
        }
        if (m.id === 2) {
          out.tools = m.result.tools;
          child.stdin.end();
        }
      }
    });
    child.on('error', reject);
    child.on('close', () => {
      fs.rmSync(cwd, { recursive: true, force: true });
      if (!out.initialize || (list && !out.tools)) reject(new Error(`${version}: the server did not answer`));
      else resolve(out);
    });
    send({ id: 1, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'baton-build', version: VERSION } } });
  });
}

(async () => {
  const versions = SUPPORTED_PROTOCOL_VERSIONS.filter((v) => /^\d{4}-\d{2}-\d{2}$/.test(v));
  const answers = await Promise.all(versions.map((v, i) => ask(v, i === 0)));
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
