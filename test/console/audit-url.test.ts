import { describe, expect, it } from 'vitest';
import { auditFilterOf, auditQueryFromParams, auditQueryToSearch, isFiltered } from '../../console/src/audit/audit-url';

describe('audit filters in the URL', () => {
  it('reads a pre-filtered link into the API filter', () => {
    const query = auditQueryFromParams(new URLSearchParams('user=alice@example.com&server=files&tool=read_file&type=mcp.request,grant.issued&outcome=denied&since=2026-11-29T10:00:00Z&until=2026-11-29T11:00:00.000Z'));
    expect(auditFilterOf(query)).toEqual({
      actor: 'alice@example.com',
      server: 'files',
      tool: 'read_file',
      types: ['mcp.request', 'grant.issued'],
      outcome: 'DENIED',
      since: '2026-11-29T10:00:00.000Z',
      until: '2026-11-29T11:00:00.000Z',
    });
    expect(query.order).toBe('NEWEST_FIRST');
  });

  it('drops what the API would refuse: an unknown outcome, a date that is not one, empty values', () => {
    const query = auditQueryFromParams({ outcome: 'maybe', since: 'yesterday', user: '  ', type: ',,' });
    expect(auditFilterOf(query)).toEqual({});
    expect(isFiltered(query)).toBe(false);
  });

  it('orders newest first unless the URL says oldest', () => {
    expect(auditQueryFromParams({}).order).toBe('NEWEST_FIRST');
    expect(auditQueryFromParams({ order: 'oldest' }).order).toBe('OLDEST_FIRST');
    expect(auditQueryFromParams({ order: 'sideways' }).order).toBe('NEWEST_FIRST');
  });

  it('writes filters back in a fixed key order, leaving defaults out', () => {
    expect(auditQueryToSearch({ order: 'NEWEST_FIRST' })).toBe('');
    expect(auditQueryToSearch({ order: 'OLDEST_FIRST', outcome: 'ERROR', tool: 'echo', user: 'bob@example.com', types: ['auth.login', 'auth.logout'] })).toBe(
      '?user=bob%40example.com&tool=echo&type=auth.login%2Cauth.logout&outcome=error&order=oldest',
    );
  });

  it('links to one MCP session\'s events', () => {
    expect(auditQueryToSearch({ order: 'OLDEST_FIRST', session: 'mcp-7f3a' })).toBe('?session=mcp-7f3a&order=oldest');
    expect(auditFilterOf(auditQueryFromParams({ session: 'mcp-7f3a' }))).toEqual({ sessionId: 'mcp-7f3a' });
  });

  it('reads back what it writes', () => {
    const query = auditQueryFromParams({ user: 'carol@example.com', server: 'files', session: 's1', since: '2026-01-02T03:04:05.000Z', order: 'oldest', type: 'mcp.request' });
    expect(auditQueryFromParams(new URLSearchParams(auditQueryToSearch(query)))).toEqual(query);
  });
});
