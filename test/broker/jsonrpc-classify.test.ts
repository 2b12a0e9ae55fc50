import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classify, parseFrame } from '../../broker/jsonrpc.js';

/** The schemas the hand-written check replaced (issue 22): the reference it must agree with on every input. */
const id = z.union([z.string().max(256), z.number().int()]);
const params = z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional();
const reference = {
  request: z.strictObject({ jsonrpc: z.literal('2.0'), id, method: z.string().min(1).max(256), params }),
  notification: z.strictObject({ jsonrpc: z.literal('2.0'), method: z.string().min(1).max(256), params }),
  result: z.strictObject({ jsonrpc: z.literal('2.0'), id, result: z.record(z.string(), z.unknown()) }),
  error: z.strictObject({ jsonrpc: z.literal('2.0'), id: id.nullable(), error: z.strictObject({ code: z.number().int(), message: z.string(), data: z.unknown().optional() }) }),
};

function classifiedByReference(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return null;
  const kind = 'method' in value ? ('id' in value ? 'request' : 'notification') : 'result' in value ? 'result' : 'error' in value ? 'error' : null;
  if (kind === null) return null;
  const parsed = reference[kind].safeParse(value);
  return parsed.success ? { kind, ...parsed.data } : null;
}

const ids: unknown[] = [1, 0, -7, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1.5, 1e300, 'a', '', 'x'.repeat(256), 'x'.repeat(257), null, true, {}, [], undefined];
const methods: unknown[] = ['tools/call', '', 'm'.repeat(256), 'm'.repeat(257), 3, null, undefined];
const paramValues: unknown[] = [{ name: 'echo', arguments: { a: 1 } }, [], [1, 2], null, 'text', 4, undefined, JSON.parse('{"__proto__":{"polluted":1},"name":"x"}')];
const results: unknown[] = [{ content: [] }, {}, [], null, 'ok', 1, JSON.parse('{"__proto__":{"polluted":1},"ok":true}')];
const errors: unknown[] = [{ code: -32600, message: 'bad' }, { code: -32600, message: 'bad', data: { reason: 'x' } }, { code: -32600, message: 'bad', data: null }, { code: 1.5, message: 'bad' }, { code: 2 ** 53, message: 'm' }, { code: -1 }, { message: 'm' }, { code: 1, message: 2 }, { code: 1, message: 'm', extra: 1 }, null, [], 'error'];

/** Every combination of members, including missing, surplus and mistyped ones. */
function* messages(): Generator<unknown> {
  const jsonrpcs: unknown[] = ['2.0', '1.0', 2, undefined];
  for (const jsonrpc of jsonrpcs)
    for (const idValue of ids) {
      for (const method of methods) for (const p of paramValues) yield members({ jsonrpc, id: idValue, method, params: p });
      for (const result of results) yield members({ jsonrpc, id: idValue, result });
      for (const error of errors) yield members({ jsonrpc, id: idValue, error });
    }
  for (const extra of [{ extra: 1 }, { result: {} }, { error: { code: 1, message: 'm' } }, { method: 'x' }])
    for (const base of [{ jsonrpc: '2.0', id: 1, method: 'm' }, { jsonrpc: '2.0', method: 'm' }, { jsonrpc: '2.0', id: 1, result: {} }, { jsonrpc: '2.0', id: null, error: { code: 1, message: 'm' } }]) yield { ...base, ...extra };
  yield* [null, 1, 'x', [], [{ jsonrpc: '2.0', id: 1, method: 'm' }], {}, { jsonrpc: '2.0' }];
  yield { jsonrpc: '2.0', id: 1, method: 'm', params: undefined };
}

/** Leaves out members whose value is undefined, as a parsed frame would; keeps one such member present, as an upstream object might. */
function members(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([key, value]) => value !== undefined || key === 'params'));
}

/** The value as built (an upstream's object), and its members in other orders as frames JSON.parse reads (own `__proto__` members included). */
function* reordered(value: unknown): Generator<unknown> {
  yield value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const members = Object.entries(value).filter(([, member]) => member !== undefined);
  const frame = (order: [string, unknown][]) => JSON.parse(`{${order.map(([key, member]) => `${JSON.stringify(key)}:${JSON.stringify(member)}`).join(',')}}`) as unknown;
  for (let shift = 0; shift < members.length; shift++) {
    const order = [...members.slice(shift), ...members.slice(0, shift)];
    yield frame(order);
    yield frame(order.reverse());
  }
}

/** Frames with members named like Object.prototype's, where a check by `in` or by assignment would go wrong. */
const PROTOTYPE_FRAMES = [
  '{"jsonrpc":"2.0","id":1,"method":"m","__proto__":{"x":1}}',
  '{"__proto__":{"method":"m"},"jsonrpc":"2.0","id":1,"result":{}}',
  '{"jsonrpc":"2.0","id":1,"method":"m","constructor":{}}',
  '{"jsonrpc":"2.0","id":1,"method":"m","params":{"constructor":{"prototype":{"x":1}},"toString":1}}',
  '{"jsonrpc":"2.0","id":1,"result":{"constructor":1,"__proto__":[]}}',
  '{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"m","__proto__":{"data":1}}}',
  '{"jsonrpc":"2.0","id":-0,"method":"m"}',
  '{"jsonrpc":"2.0","id":1,"method":"m","params":{"__proto__":null}}',
  '{"jsonrpc":"2.0","id":1,"error":{"code":-0,"message":"","data":{"__proto__":1}}}',
];

describe('JSON-RPC message check', () => {
  it('accepts and refuses exactly what the schemas it replaced did, and builds the same message', () => {
    let accepted = 0;
    let count = 0;
    const parsed = function* () {
      for (const value of messages()) yield* reordered(value);
      for (const frame of PROTOTYPE_FRAMES) yield JSON.parse(frame) as unknown;
    };
    for (const value of parsed()) {
      count++;
      const ours = classify(value);
      expect(ours, JSON.stringify(value)).toEqual(classifiedByReference(value));
      if (ours === null) continue;
      accepted++;
      // Same members in the same order on the wire, so forwarded bytes do not change; nothing inherited.
      expect(JSON.stringify(ours)).toBe(JSON.stringify(classifiedByReference(value)));
      expect(Object.getPrototypeOf(ours)).toBe(Object.prototype);
    }
    expect(count).toBeGreaterThan(10_000);
    expect(accepted).toBeGreaterThan(100);
  });

  it('drops an own __proto__ member of params and results rather than forward it', () => {
    const request = parseFrame('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"__proto__":{"admin":true},"name":"echo"}}');
    expect(request).toEqual({ ok: true, message: { kind: 'request', jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo' } } });
    const result = classify(JSON.parse('{"jsonrpc":"2.0","id":1,"result":{"__proto__":{"admin":true},"content":[]}}'));
    expect(result).toEqual({ kind: 'result', jsonrpc: '2.0', id: 1, result: { content: [] } });
    expect(Object.hasOwn((result as { result: object }).result, '__proto__')).toBe(false);
  });
});
