/** A JSON object (not an array, not null): the shape MCP params, results and metadata take. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
