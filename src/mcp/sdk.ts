// Imported with `await import('./sdk.js')` when a message needs the SDK (see front.ts): the SDK,
// served from dist/vendor/, loads only then.
export { Server } from '@modelcontextprotocol/server';
export { serveStdio } from '@modelcontextprotocol/server/stdio';
