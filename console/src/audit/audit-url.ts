import type { AuditFilter, AuditOrder, AuditOutcome } from '../gql/graphql';

/**
 * The audit page's filters as they live in the URL query, so a link can arrive
 * pre-filtered (`/audit?user=alice@example.com&tool=echo&outcome=denied`) and every
 * change of filter is a URL one can copy. Unknown or malformed values are dropped, never
 * passed to the API as they are.
 */
export interface AuditQuery {
  user?: string;
  server?: string;
  tool?: string;
  /** One MCP session's events (`session=` in the URL). */
  session?: string;
  /** Event types (any of them); `type=a,b` in the URL. */
  types?: string[];
  outcome?: AuditOutcome;
  /** ISO instants (UTC). */
  since?: string;
  until?: string;
  order: AuditOrder;
  /** One event's cursor (`event=` in the URL): the page opens it in the drawer, whatever the filters show. */
  event?: string;
}

export const DEFAULT_ORDER: AuditOrder = 'NEWEST_FIRST';
const OUTCOMES: readonly AuditOutcome[] = ['SUCCESS', 'DENIED', 'ERROR'];

export function auditQueryFromParams(params: URLSearchParams | Record<string, string>): AuditQuery {
  const search = params instanceof URLSearchParams ? params : new URLSearchParams(params);
  const text = (key: string) => search.get(key)?.trim() || undefined;
  const instant = (key: string) => {
    const value = text(key);
    if (!value) return undefined;
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  };
  const outcome = text('outcome')?.toUpperCase();
  const types = text('type')
    ?.split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return {
    user: text('user'),
    server: text('server'),
    tool: text('tool'),
    session: text('session'),
    types: types && types.length > 0 ? types : undefined,
    outcome: OUTCOMES.find((o) => o === outcome),
    since: instant('since'),
    until: instant('until'),
    order: text('order') === 'oldest' ? 'OLDEST_FIRST' : DEFAULT_ORDER,
    event: text('event'),
  };
}

/** The query string for these filters ("" when none), keys in a fixed order, defaults left out. */
export function auditQueryToSearch(query: AuditQuery): string {
  const search = new URLSearchParams();
  const set = (key: string, value: string | undefined) => {
    if (value) search.set(key, value);
  };
  set('user', query.user);
  set('server', query.server);
  set('tool', query.tool);
  set('session', query.session);
  set('type', query.types?.join(','));
  set('outcome', query.outcome?.toLowerCase());
  set('since', query.since);
  set('until', query.until);
  if (query.order !== DEFAULT_ORDER) search.set('order', 'oldest');
  set('event', query.event);
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The API's filter for these URL filters. */
export function auditFilterOf(query: AuditQuery): AuditFilter {
  const filter: AuditFilter = {};
  if (query.user) filter.actor = query.user;
  if (query.server) filter.server = query.server;
  if (query.tool) filter.tool = query.tool;
  if (query.session) filter.sessionId = query.session;
  if (query.types) filter.types = query.types;
  if (query.outcome) filter.outcome = query.outcome;
  if (query.since) filter.since = query.since;
  if (query.until) filter.until = query.until;
  return filter;
}

/** Whether any filter (not the order) is set: the empty state then says "no events match". */
export function isFiltered(query: AuditQuery): boolean {
  return Object.keys(auditFilterOf(query)).length > 0;
}
