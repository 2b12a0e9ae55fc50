import type { AuditOrder, ConsoleAuditEventFragment } from '../gql/graphql';
import { DataTable } from '../ui/data-table';
import type { Column } from '../ui/data-table';
import { Time } from '../ui/time';

export type AuditRow = ConsoleAuditEventFragment;

const OUTCOME_LABELS = { SUCCESS: 'Success', DENIED: 'Denied', ERROR: 'Error' } as const;

/** The events of one page; the time column sorts (the only order the API offers). */
export function AuditTable(props: { rows: AuditRow[]; order: AuditOrder; caption: string; onSort: () => void; onOpen: (row: AuditRow) => void }) {
  const newest = props.order === 'NEWEST_FIRST';
  const timeColumn: Column = {
    label: 'Time',
    sort: newest ? 'descending' : 'ascending',
    header: (
      <button type="button" class="sort-button" onClick={props.onSort}>
        Time<span class="visually-hidden">, {newest ? 'newest first' : 'oldest first'}</span>
        <span aria-hidden="true"> {newest ? '▼' : '▲'}</span>
      </button>
    ),
  };
  return (
    <DataTable class="audit-table" caption={props.caption} columns={[timeColumn, 'Type', 'Outcome', 'Actor', 'Server', 'Tool', { label: 'Details', hidden: true }]}>
      {props.rows.map((row) => (
        <tr key={row.id}>
          <td>
            <Time iso={row.time} />
          </td>
          <td>
            <code>{row.type}</code>
          </td>
          <td>
            <span class={`status status-${row.outcome.toLowerCase()}`}>{OUTCOME_LABELS[row.outcome]}</span>
          </td>
          <td>{row.actor ?? <span class="muted">system</span>}</td>
          <td>{row.server ?? ''}</td>
          <td>{row.tool ? <code>{row.tool}</code> : ''}</td>
          <td>
            <button type="button" class="button-secondary" onClick={() => props.onOpen(row)}>
              Details<span class="visually-hidden"> of event {row.id}</span>
            </button>
          </td>
        </tr>
      ))}
    </DataTable>
  );
}
