import { useMutation, useQuery } from '@urql/preact';
import { useRoute } from 'preact-iso';
import { useState } from 'preact/hooks';
import { auditQueryToSearch } from '../audit/audit-url';
import { ConsoleAcknowledgeAnomalyDocument, ConsoleAnomalyDocument } from '../gql/graphql';
import type { ConsoleAnomalyQuery } from '../gql/graphql';
import { sortErrors } from '../forms/field-errors';
import { Page } from '../shell/page';
import { DataTable } from '../ui/data-table';
import { Field, describedBy } from '../ui/field';
import { FormErrors, LoadError, Loading, StatusMessage } from '../ui/messages';
import { Time } from '../ui/time';
import { AnomalyStatusBadge, ruleLabel, SeverityBadge } from './anomaly-labels';
import { SuppressDialog } from './suppress-dialog';

type Anomaly = NonNullable<ConsoleAnomalyQuery['anomaly']>;
type TriggeringEvent = Anomaly['triggeringEvents'][number];

/** `/anomalies/:id`: what was seen beside its baseline, the events behind it (each linked into the audit log), acknowledge and suppress. */
export function AnomalyPage() {
  const { params } = useRoute();
  const id = params.id ?? '';
  const [result, refetch] = useQuery({ query: ConsoleAnomalyDocument, variables: { id } });
  const [message, setMessage] = useState('');
  const anomaly = result.data?.anomaly;
  return (
    <Page title={anomaly ? `Anomaly: ${ruleLabel(anomaly.rule)}` : 'Anomaly'}>
      <p>
        <a href="/anomalies">Back to the anomalies</a>
      </p>
      <StatusMessage message={message} />
      {result.error ? (
        <LoadError error={result.error} what="the anomaly" />
      ) : !anomaly ? (
        <Loading what="the anomaly" />
      ) : (
        <AnomalyDetail
          anomaly={anomaly}
          onChanged={(text) => {
            setMessage(text);
            refetch({ requestPolicy: 'network-only' });
          }}
        />
      )}
    </Page>
  );
}

function AnomalyDetail({ anomaly, onChanged }: { anomaly: Anomaly; onChanged: (message: string) => void }) {
  const [suppressing, setSuppressing] = useState(false);
  return (
    <>
      <section aria-labelledby="anomaly-summary-title" class="panel">
        <h2 id="anomaly-summary-title">What was seen</h2>
        <p>{anomaly.summary}</p>
        <dl class="details">
          <dt>Severity</dt>
          <dd>
            <SeverityBadge severity={anomaly.severity} /> score {anomaly.score}
          </dd>
          <dt>User</dt>
          <dd>{anomaly.user}</dd>
          <dt>Where</dt>
          <dd>{[anomaly.server, anomaly.tool].filter(Boolean).join(' / ') || '—'}</dd>
          <dt>Session</dt>
          <dd>{anomaly.sessionId ? <a href={`/audit${auditQueryToSearch({ order: 'OLDEST_FIRST', session: anomaly.sessionId })}`}>All events of session {anomaly.sessionId}</a> : '—'}</dd>
          <dt>Detected</dt>
          <dd>
            <Time iso={anomaly.at} />
          </dd>
          <dt>Status</dt>
          <dd>
            <AnomalyStatusBadge status={anomaly.status} />
            {anomaly.acknowledgedBy && anomaly.acknowledgedAt && (
              <>
                by {anomaly.acknowledgedBy}, <Time iso={anomaly.acknowledgedAt} />
              </>
            )}
            {anomaly.note && <div class="muted">“{anomaly.note}”</div>}
          </dd>
          <dt>Response</dt>
          <dd>{anomaly.responses.length === 0 ? 'Recorded only' : anomaly.responses.map((r) => `${r.action.replace(/_/g, ' ')} (${r.outcome.toLowerCase()}${r.detail ? `: ${r.detail}` : ''})`).join('; ')}</dd>
        </dl>
      </section>
      <section aria-labelledby="anomaly-comparison-title">
        <h2 id="anomaly-comparison-title">Observed and baseline</h2>
        <Comparison observed={anomaly.observed} baseline={anomaly.baseline} />
      </section>
      <section aria-labelledby="anomaly-events-title">
        <h2 id="anomaly-events-title">Triggering events</h2>
        <TriggeringEvents events={anomaly.triggeringEvents} />
      </section>
      <section aria-labelledby="anomaly-actions-title" class="panel">
        <h2 id="anomaly-actions-title">Respond</h2>
        {anomaly.status === 'OPEN' ? <AcknowledgeForm anomaly={anomaly} onDone={onChanged} /> : <p>Acknowledged: nothing more to do here.</p>}
        <div class="actions">
          <button type="button" class="button-secondary" onClick={() => setSuppressing(true)}>
            Suppress {ruleLabel(anomaly.rule)} for {anomaly.user}…
          </button>
        </div>
      </section>
      {suppressing && (
        <SuppressDialog
          user={anomaly.user}
          rule={anomaly.rule}
          onClose={(done) => {
            setSuppressing(false);
            if (done) onChanged(done);
          }}
        />
      )}
    </>
  );
}

/** One row per measure, the observed value beside the baseline's. */
function Comparison({ observed, baseline }: { observed: unknown; baseline: unknown }) {
  const seen = asObject(observed);
  const usual = asObject(baseline);
  const keys = [...new Set([...Object.keys(seen), ...Object.keys(usual)])];
  return (
    <DataTable caption="Observed values beside the baseline they were compared with" columns={['Measure', 'Observed', 'Baseline']}>
      {keys.map((key) => (
        <tr key={key}>
          <th scope="row">{key}</th>
          <td class="cell-text">{shown(seen[key])}</td>
          <td class="cell-text">{shown(usual[key])}</td>
        </tr>
      ))}
    </DataTable>
  );
}

function TriggeringEvents({ events }: { events: readonly TriggeringEvent[] }) {
  if (events.length === 0) return <p class="empty">The audit log no longer holds the events behind it (retention).</p>;
  return (
    <DataTable caption="Audit events that triggered the anomaly, oldest first" columns={['Time', 'Type', 'Outcome', 'Server', 'Tool', { label: 'In the audit log', hidden: true }]}>
      {events.map((event) => (
        <tr key={event.id}>
          <td>
            <Time iso={event.time} />
          </td>
          <td>{event.type}</td>
          <td>{event.outcome.toLowerCase()}</td>
          <td>{event.server ?? '—'}</td>
          <td>{event.tool ?? '—'}</td>
          <td>
            <a href={`/audit${auditQueryToSearch(eventQuery(event))}`}>
              Show in the audit log<span class="visually-hidden"> ({event.type} at {event.time})</span>
            </a>
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

/** The audit view with this event open, among the events of its session (or its actor's, up to it, without one). */
function eventQuery(event: TriggeringEvent) {
  if (event.sessionId) return { order: 'OLDEST_FIRST' as const, session: event.sessionId, event: event.id };
  return { order: 'NEWEST_FIRST' as const, user: event.actor ?? undefined, until: event.time, event: event.id };
}

function AcknowledgeForm({ anomaly, onDone }: { anomaly: Anomaly; onDone: (message: string) => void }) {
  const [note, setNote] = useState('');
  const [result, acknowledge] = useMutation(ConsoleAcknowledgeAnomalyDocument);
  const errors = sortErrors(result.error, ['note']);
  const submit = async (event: Event) => {
    event.preventDefault();
    const answer = await acknowledge({ id: anomaly.id, note: note.trim() || null });
    if (answer.data) onDone('Acknowledged: the audit log records it with your note.');
  };
  return (
    <form class="form" onSubmit={submit} noValidate>
      <FormErrors messages={errors.form} />
      <Field id="anomaly-note" label="Note (optional)" hint="What you found: a known cause, a ticket. The audit log keeps it." error={errors.fields.note}>
        <textarea id="anomaly-note" rows={3} value={note} onInput={(e) => setNote(e.currentTarget.value)} {...describedBy('anomaly-note', { hint: true, error: errors.fields.note })} />
      </Field>
      <div class="actions">
        <button type="submit" class="button" disabled={result.fetching}>
          Acknowledge
        </button>
      </div>
    </form>
  );
}

/** `observed` and `baseline` are JSON objects; the JSON scalar is only typed `unknown`. */
function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function shown(value: unknown): string {
  return value === undefined ? '—' : typeof value === 'string' ? value : JSON.stringify(value);
}
