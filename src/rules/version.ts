/** baton's version, as --version and the MCP server's handshake say it. */
export const VERSION = '0.1.0';
