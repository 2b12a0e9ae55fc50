import { describe, expect, it } from 'vitest';
import { collectJsonLines, exportFileName, toJsonLines } from '../../console/src/audit/json-lines';

describe('audit export as JSON lines', () => {
  it('writes one event per line, as the API returned it, without client bookkeeping', () => {
    const text = toJsonLines([
      { __typename: 'AuditEvent', id: '1', type: 'mcp.request', data: { arguments: { path: '/tmp/a' } } },
      { id: '2', type: 'auth.login', data: {} },
    ]);
    expect(text).toBe('{"id":"1","type":"mcp.request","data":{"arguments":{"path":"/tmp/a"}}}\n{"id":"2","type":"auth.login","data":{}}\n');
    expect(text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as unknown)).toHaveLength(2);
  });

  it('pages through the filter by cursor until the last page, one chunk per page', async () => {
    const asked: (string | null)[] = [];
    const pages = new Map<string | null, { items: { id: string }[]; endCursor: string | null; hasNextPage: boolean }>([
      [null, { items: [{ id: 'a' }, { id: 'b' }], endCursor: 'b', hasNextPage: true }],
      ['b', { items: [{ id: 'c' }], endCursor: 'c', hasNextPage: false }],
    ]);
    const progress: number[] = [];
    const chunks = await collectJsonLines(
      async (after) => {
        asked.push(after);
        return pages.get(after)!;
      },
      { onProgress: (n) => progress.push(n) },
    );
    expect(asked).toEqual([null, 'b']);
    expect(chunks.join('')).toBe('{"id":"a"}\n{"id":"b"}\n{"id":"c"}\n');
    expect(progress).toEqual([2, 3]);
  });

  it('goes on past an empty page whose cursor moved (a narrow filter over more events than one request scans), to the end', async () => {
    const pages = new Map<string | null, { items: { id: string }[]; endCursor: string | null; hasNextPage: boolean }>([
      [null, { items: [{ id: 'a' }], endCursor: 'a', hasNextPage: true }],
      ['a', { items: [], endCursor: 'scanned-to-20000', hasNextPage: true }],
      ['scanned-to-20000', { items: [{ id: 'z' }], endCursor: 'z', hasNextPage: false }],
    ]);
    const chunks = await collectJsonLines(async (after) => pages.get(after)!);
    expect(chunks.join('')).toBe('{"id":"a"}\n{"id":"z"}\n');
  });

  it('fails, never loops nor passes a part for the whole, on a page that says there is more with a cursor that did not move', async () => {
    let calls = 0;
    const exported = collectJsonLines(async (after) => {
      calls++;
      return after === null ? { items: [{ id: 'x' }], endCursor: 'x', hasNextPage: true } : { items: [], endCursor: 'x', hasNextPage: true };
    });
    await expect(exported).rejects.toThrow('the export is incomplete');
    expect(calls).toBe(2);
  });

  it('stops when cancelled', async () => {
    const controller = new AbortController();
    const exported = collectJsonLines(
      async (after) => {
        controller.abort();
        return { items: [{ id: after ?? 'first' }], endCursor: 'next', hasNextPage: true };
      },
      { signal: controller.signal },
    );
    await expect(exported).rejects.toThrow('export cancelled');
  });

  it('names the file after the time of export', () => {
    expect(exportFileName(new Date('2026-11-29T21:44:24.123Z'))).toBe('portcullis-audit-20261129T214424Z.jsonl');
  });
});
