/** The broker's MCP WebSocket paths: per server (`/mcp/ws/<server>`) and federated. A module of its own so clients can name them without loading the edge. */
export const MCP_WS_PREFIX = '/mcp/ws/';
export const MCP_WS_FEDERATED = '/mcp/ws';
