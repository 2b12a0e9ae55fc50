import { useQuery } from '@urql/preact';
import { AuditChainVerificationDocument } from '../gql/graphql';
import type { AuditChainVerificationQuery } from '../gql/graphql';
import { Time } from '../ui/time';
import { LoadError } from '../ui/messages';

type Verification = AuditChainVerificationQuery['auditChainVerification'];

/** Auditors: the same walk over the hash chain as `portcullis audit verify`, on demand. */
export function ChainVerification() {
  const [result, verify] = useQuery({ query: AuditChainVerificationDocument, pause: true, requestPolicy: 'network-only' });
  return (
    <section aria-labelledby="chain-title" class="panel">
      <h2 id="chain-title">Chain verification</h2>
      <p>Walks the whole hash chain (and the signed checkpoints, when keys are configured), as <code>portcullis audit verify</code> does.</p>
      <button type="button" class="button-secondary" disabled={result.fetching} onClick={() => verify({ requestPolicy: 'network-only' })}>
        {result.fetching ? 'Verifying…' : 'Verify chain'}
      </button>
      <div role="status">{result.data && !result.fetching && <VerificationResult verification={result.data.auditChainVerification} />}</div>
      {result.error && <LoadError error={result.error} what="the verification" />}
    </section>
  );
}

function VerificationResult({ verification: v }: { verification: Verification }) {
  return (
    <div class={`notice ${v.intact ? 'notice-success' : 'notice-error'}`}>
      <p>
        <strong>
          {v.intact
            ? `Intact: ${v.events.toLocaleString()} events chain correctly.`
            : `Broken at event ${v.brokenAt ?? '?'} (position ${v.brokenPosition ?? '?'}): ${v.brokenReason ?? 'no reason given'}.`}
        </strong>
      </p>
      <dl class="details">
        <dt>Last cursor</dt>
        <dd>
          <code>{v.lastId ?? 'none'}</code>
        </dd>
        <dt>Head hash</dt>
        <dd>
          <code class="hash">{v.lastHash || 'none'}</code>
        </dd>
        <dt>Checkpoints</dt>
        <dd>
          {v.checkpoints === 0 ? 'None' : `${v.checkpoints} (${v.checkpointsVerified ? 'signatures verified' : 'signatures not checked: no public key configured'})`}
          {v.lastCheckpointAt && (
            <>
              ; last <Time iso={v.lastCheckpointAt} />, {v.eventsAfterLastCheckpoint} events after it
            </>
          )}
        </dd>
      </dl>
    </div>
  );
}
