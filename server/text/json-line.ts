/**
 * JSON with every character a terminal or a line-splitting reader may act on escaped:
 * JSON.stringify leaves DEL, the C1 controls (U+0085 is a line break to Python's
 * splitlines, U+009B a terminal's CSI) and U+2028/2029 (line breaks to some readers) raw,
 * and what the API returns and the log holds carries what people and clients sent (a
 * request's reason, an event's client name, a tool's arguments): one such line must never
 * read as two. The value parsed back is the same.
 */
export function jsonLine(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
