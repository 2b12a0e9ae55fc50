import { InvalidInputError } from '../errors.js';

/**
 * RFC 8785 (JSON Canonicalization Scheme) for JSON data: object members sorted by their
 * names' UTF-16 code units, no whitespace, strings and numbers as ECMAScript's
 * JSON.stringify writes them (for finite numbers that is JCS's Number serialisation).
 * Members whose value JSON has no form for (undefined, functions) are left out and such
 * array items written as null, as JSON.stringify does. It is the hash input of every
 * audit event, so it runs twice per relayed call: written for plain data (what JSON.parse
 * returns, and the events built from it), it does no toJSON, boxed-value or cycle
 * handling (a cycle overflows the stack: audit data has been through JSON already), and
 * refuses what JCS refuses: lone surrogates, NaN and the infinities.
 * test/audit/canonical-json.test.ts checks it against the `canonicalize` package.
 */
export function canonicalJson(value: unknown): string {
  const text = serialise(value);
  if (text === undefined) throw new InvalidInputError('canonical JSON: the value has no JSON form');
  return text;
}

/**
 * An object of known member names, written in the order given (which must be JCS's: sorted
 * by UTF-16 code units; `memberWriter` checks it) without sorting them on every call: an
 * audit event's own fields, written twice per relayed call. Members whose value has no
 * JSON form are left out, as canonicalJson does.
 */
export function memberWriter<K extends string>(names: readonly K[]): (object: Readonly<Partial<Record<K, unknown>>>) => string {
  if (names.some((name, i) => i > 0 && !(names[i - 1]! < name))) throw new Error(`canonical JSON: members ${names.join(', ')} are not in sorted order`);
  const quoted = names.map((name) => `${JSON.stringify(name)}:`);
  return (object) => {
    let text = '{';
    for (let i = 0; i < names.length; i++) {
      const member = serialise(object[names[i]!]);
      if (member === undefined) continue;
      text += text.length > 1 ? `,${quoted[i]!}${member}` : `${quoted[i]!}${member}`;
    }
    return `${text}}`;
  };
}

function serialise(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new InvalidInputError('canonical JSON: a string holds a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidInputError(`canonical JSON: ${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? serialiseArray(value) : serialiseObject(value as Record<string, unknown>);
    case 'bigint':
      throw new InvalidInputError('canonical JSON: a BigInt is not a JSON number');
    default:
      return undefined;
  }
}

function serialiseArray(items: readonly unknown[]): string {
  let text = '[';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) text += ',';
    text += serialise(items[i]) ?? 'null';
  }
  return `${text}]`;
}

function serialiseObject(object: Record<string, unknown>): string {
  const keys = Object.keys(object).sort();
  let text = '{';
  let first = true;
  for (const key of keys) {
    const member = serialise(object[key]);
    if (member === undefined) continue;
    if (!first) text += ',';
    first = false;
    text += `${serialise(key)!}:${member}`;
  }
  return `${text}}`;
}
