import { useQuery } from '@urql/preact';
import { useLocation } from 'preact-iso';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { AuditEventByIdDocument, AuditPageDocument, ServerNamesDocument } from '../gql/graphql';
import { useConnection } from '../graphql/connection-context';
import { prependEvents } from '../live/live-lists';
import { Page } from '../shell/page';
import { useViewer } from '../shell/viewer';
import { Empty, LoadError, Loading } from '../ui/messages';
import { AuditDrawer } from './audit-drawer';
import { AuditExport } from './audit-export';
import { AuditFilters } from './audit-filters';
import { AuditTable } from './audit-table';
import type { AuditRow } from './audit-table';
import { auditFilterOf, auditQueryFromParams, auditQueryToSearch, isFiltered } from './audit-url';
import type { AuditQuery } from './audit-url';
import { ChainVerification } from './chain-verification';
import { followAuditTail } from './live-tail';
import type { TailState } from './live-tail';

const PAGE_SIZE = 50;
/** Live rows kept on screen: a busy log must not grow the table without bound. */
const LIVE_LIMIT = 500;

/**
 * `/audit`: one page of events at a time (by cursor, never the whole log), filters in
 * the URL, a live tail, the event drawer, export and chain verification.
 */
export function AuditPage() {
  const viewer = useViewer();
  const location = useLocation();
  const query = auditQueryFromParams(location.query);
  // Held here, not in the log below: a change of filter starts the log afresh but keeps the tail on.
  const [live, setLive] = useState(false);
  return (
    <Page title="Audit log" intro={viewer.readsAllAudit ? 'Every event the broker recorded.' : 'Your own events: what you did and what was done with your access.'}>
      <AuditLog key={auditQueryToSearch(query)} query={query} onQuery={(next) => location.route(`/audit${auditQueryToSearch(next)}`)} live={live} setLive={setLive} />
      {viewer.readsAllAudit && <ChainVerification />}
    </Page>
  );
}

function AuditLog({ query, onQuery, live, setLive }: { query: AuditQuery; onQuery: (query: AuditQuery) => void; live: boolean; setLive: (on: boolean) => void }) {
  const viewer = useViewer();
  const { openFeedSocket } = useConnection();
  // Keyed by the filters' text: the query object is new on every render, the filters are not.
  const search = auditQueryToSearch(query);
  const filter = useMemo(() => auditFilterOf(query), [search]);
  // Cursors of the pages before this one, to go back ("newer" in the default order).
  const [previous, setPrevious] = useState<(string | null)[]>([]);
  const [after, setAfter] = useState<string | null>(null);
  const [result, reexecute] = useQuery({ query: AuditPageDocument, variables: { filter, order: query.order, first: PAGE_SIZE, after }, requestPolicy: 'cache-and-network' });
  const [servers] = useQuery({ query: ServerNamesDocument });
  const [tailState, setTailState] = useState<{ state: TailState; detail?: string } | null>(null);
  const [arrived, setArrived] = useState<AuditRow[]>([]);
  const [open, setOpen] = useState<AuditRow | null>(null);
  const linked = useLinkedEvent(query.event);
  const shown = open ?? linked.event;

  const page = result.data?.auditEvents;
  const rows = useMemo(() => prependEvents(page?.items ?? [], arrived, LIVE_LIMIT + PAGE_SIZE), [page, arrived]);
  const onFirstNewestPage = query.order === 'NEWEST_FIRST' && after === null;
  // The newest cursor seen when the tail starts (later ones are the tail's own business).
  const newestCursor = onFirstNewestPage ? (page?.items[0]?.id ?? null) : null;
  // Settled: not while the page for new variables (a reset to the first page) is on its way.
  const ready = page !== undefined && !result.fetching;

  // The tail starts from the cursor seen when it was switched on, not each time the page refetches.
  useEffect(() => {
    setArrived([]);
    if (!live || !ready) return;
    return followAuditTail({
      openSocket: openFeedSocket,
      filter,
      after: newestCursor,
      // In arrival order (oldest first), the last LIVE_LIMIT; the table puts them newest first.
      onEvent: (event) => setArrived((list) => [...list.slice(1 - LIVE_LIMIT), event]),
      onState: (state, detail) => setTailState({ state, detail }),
    });
  }, [live, ready, filter, openFeedSocket]);

  const switchLive = (on: boolean) => {
    setLive(on);
    setTailState(null);
    if (on && !onFirstNewestPage) {
      // The tail shows the newest events on top: back to the first page, newest first.
      setPrevious([]);
      setAfter(null);
      if (query.order !== 'NEWEST_FIRST') onQuery({ ...query, order: 'NEWEST_FIRST' });
    }
    // Off: the page shows the newest events as they are now.
    if (!on) reexecute({ requestPolicy: 'network-only' });
  };

  const next = () => {
    setPrevious((stack) => [...stack, after]);
    setAfter(page?.pageInfo.endCursor ?? null);
  };
  const back = () => {
    setAfter(previous.at(-1) ?? null);
    setPrevious((stack) => stack.slice(0, -1));
  };
  const newest = query.order === 'NEWEST_FIRST';
  const serverNames = servers.data?.mcpServers.map((s) => s.name) ?? [];

  return (
    <>
      <section aria-labelledby="audit-filters-title" class="panel">
        <h2 id="audit-filters-title">Filters</h2>
        <AuditFilters query={query} servers={serverNames} readsAll={viewer.readsAllAudit} onApply={onQuery} />
      </section>
      <section aria-labelledby="audit-events-title">
        <h2 id="audit-events-title">Events</h2>
        <div class="toolbar">
          <label class="switch">
            <input type="checkbox" role="switch" checked={live} onChange={(e) => switchLive(e.currentTarget.checked)} />
            Live tail
          </label>
          <span role="status" class="muted">
            {live && tailState ? describeTail(tailState) : ''}
          </span>
          <AuditExport filter={filter} order={query.order} />
        </div>
        {result.error ? (
          <LoadError error={result.error} what="the audit log" />
        ) : !page ? (
          <Loading what="the audit log" />
        ) : rows.length === 0 ? (
          <Empty>{isFiltered(query) ? 'No event matches these filters. Clear some to see more.' : live ? 'No events yet: new ones appear here as they happen.' : 'The audit log has no events you may see yet.'}</Empty>
        ) : (
          <AuditTable
            rows={rows}
            order={query.order}
            caption={`Audit events, ${newest ? 'newest' : 'oldest'} first${live ? ' (live)' : ''}`}
            onSort={() => {
              setLive(false);
              onQuery({ ...query, order: newest ? 'OLDEST_FIRST' : 'NEWEST_FIRST' });
            }}
            onOpen={setOpen}
          />
        )}
        <nav class="pager" aria-label="Audit pages">
          <button type="button" class="button-secondary" disabled={previous.length === 0 || live} onClick={back}>
            {newest ? 'Newer events' : 'Older events'}
          </button>
          <button type="button" class="button-secondary" disabled={!page?.pageInfo.hasNextPage || live} onClick={next}>
            {newest ? 'Older events' : 'Newer events'}
          </button>
        </nav>
      </section>
      {linked.missing && <p class="notice notice-warning">Event {query.event} is not in the part of the log you may see (or retention removed it).</p>}
      {shown && (
        <AuditDrawer
          event={shown}
          onClose={() => {
            setOpen(null);
            linked.dismiss();
          }}
        />
      )}
    </>
  );
}

/** The event a link names (`?event=`), to open in the drawer until it is closed; `missing` when the caller cannot see it. */
function useLinkedEvent(id: string | undefined): { event: AuditRow | null; missing: boolean; dismiss: () => void } {
  const [dismissed, setDismissed] = useState(false);
  const [result] = useQuery({ query: AuditEventByIdDocument, variables: { id: id ?? '' }, pause: !id });
  const fetched = result.data !== undefined;
  const event = result.data?.auditEvent ?? null;
  return { event: dismissed ? null : event, missing: fetched && event === null, dismiss: () => setDismissed(true) };
}

function describeTail({ state, detail }: { state: TailState; detail?: string }): string {
  switch (state) {
    case 'connecting':
      return 'Connecting to the live feed…';
    case 'live':
      return 'Live: new events appear at the top.';
    case 'reconnecting':
      return `Live feed interrupted (${detail ?? 'connection lost'}); reconnecting and resuming after the last event shown.`;
  }
}
