import { useQuery } from '@urql/preact';
import { useLocation } from 'preact-iso';
import { ConsoleAnomaliesDocument } from '../gql/graphql';
import type { AnomalyFilter } from '../gql/graphql';
import { Page } from '../shell/page';
import { useViewer } from '../shell/viewer';
import { DataTable } from '../ui/data-table';
import { Empty, LoadError, Loading } from '../ui/messages';
import { Pager, useCursorPages } from '../ui/pager';
import { Time } from '../ui/time';
import { AnomalyStatusBadge, ruleLabel, SeverityBadge } from './anomaly-labels';

const PAGE_SIZE = 50;

/** `/anomalies` (auditors): what the detector raised, newest first; open ones unless `?status=all`. */
export function AnomaliesPage() {
  const viewer = useViewer();
  const location = useLocation();
  const all = location.query.status === 'all';
  return (
    <Page title="Anomalies" intro="Outliers the detector raised from MCP activity, each with what was seen, the baseline it was compared with, and the events behind it.">
      {viewer.readsAllAudit ? (
        <AnomalyList key={String(all)} all={all} onAll={(on) => location.route(on ? '/anomalies?status=all' : '/anomalies')} />
      ) : (
        <p class="notice notice-warning">Only auditors see anomalies.</p>
      )}
    </Page>
  );
}

function AnomalyList({ all, onAll }: { all: boolean; onAll: (all: boolean) => void }) {
  const pages = useCursorPages();
  const filter: AnomalyFilter = all ? {} : { status: 'OPEN' };
  const [result] = useQuery({ query: ConsoleAnomaliesDocument, variables: { filter, first: PAGE_SIZE, after: pages.after }, requestPolicy: 'cache-and-network' });
  const page = result.data?.anomalies;
  return (
    <section aria-labelledby="anomalies-title">
      <h2 id="anomalies-title">{all ? 'All anomalies' : 'Open anomalies'}</h2>
      <div class="toolbar">
        <label class="switch">
          <input type="checkbox" role="switch" checked={all} onChange={(e) => onAll(e.currentTarget.checked)} />
          Show acknowledged ones too
        </label>
      </div>
      {result.error ? (
        <LoadError error={result.error} what="anomalies" />
      ) : !page ? (
        <Loading what="anomalies" />
      ) : page.items.length === 0 ? (
        <Empty>{all ? 'The detector has raised nothing yet.' : 'No open anomaly: everything raised was acknowledged.'}</Empty>
      ) : (
        <DataTable caption={`${all ? 'Anomalies' : 'Open anomalies'}, newest first`} columns={['Time', 'Severity', 'Rule', 'User', 'Summary', 'Status']}>
          {page.items.map((anomaly) => (
            <tr key={anomaly.id}>
              <td>
                <Time iso={anomaly.at} />
              </td>
              <td>
                <SeverityBadge severity={anomaly.severity} />
              </td>
              <td>{ruleLabel(anomaly.rule)}</td>
              <td>{anomaly.user}</td>
              <td class="cell-text">
                <a href={`/anomalies/${encodeURIComponent(anomaly.id)}`}>{anomaly.summary}</a>
              </td>
              <td>
                <AnomalyStatusBadge status={anomaly.status} />
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <Pager label="Anomaly pages" things="anomalies" pages={pages} pageInfo={page?.pageInfo} />
    </section>
  );
}
