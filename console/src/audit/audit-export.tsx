import { useRef, useState } from 'preact/hooks';
import { AuditPageDocument } from '../gql/graphql';
import type { AuditFilter, AuditOrder } from '../gql/graphql';
import { useConnection } from '../graphql/connection-context';
import { collectJsonLines, exportFileName } from './json-lines';

const EXPORT_PAGE = 1000;

/** Downloads every event of the current filter as JSON lines, a thousand per request. */
export function AuditExport(props: { filter: AuditFilter; order: AuditOrder }) {
  const { uncached } = useConnection();
  const [status, setStatus] = useState('');
  const [running, setRunning] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const run = async () => {
    const controller = new AbortController();
    abort.current = controller;
    setRunning(true);
    setStatus('Exporting…');
    try {
      const chunks = await collectJsonLines(
        async (after) => {
          const result = await uncached.query(AuditPageDocument, { filter: props.filter, order: props.order, first: EXPORT_PAGE, after }).toPromise();
          if (result.error || !result.data) throw new Error(result.error?.message ?? 'no answer');
          const page = result.data.auditEvents;
          return { items: page.items, endCursor: page.pageInfo.endCursor, hasNextPage: page.pageInfo.hasNextPage };
        },
        { signal: controller.signal, onProgress: (events) => setStatus(`Exporting… ${events.toLocaleString()} events so far.`) },
      );
      const events = chunks.reduce((n, chunk) => n + chunk.split('\n').length - 1, 0);
      download(new Blob(chunks, { type: 'application/x-ndjson' }), exportFileName(new Date()));
      setStatus(`Exported ${events.toLocaleString()} events.`);
    } catch (error) {
      setStatus(controller.signal.aborted ? 'Export cancelled.' : `Export failed: ${(error as Error).message}`);
    } finally {
      setRunning(false);
      abort.current = null;
    }
  };

  return (
    <div class="export">
      {running ? (
        <button type="button" class="button-secondary" onClick={() => abort.current?.abort()}>
          Cancel export
        </button>
      ) : (
        <button type="button" class="button-secondary" onClick={() => void run()}>
          Export JSON lines
        </button>
      )}
      <span role="status">{status}</span>
    </div>
  );
}

function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later: some browsers read the blob after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
