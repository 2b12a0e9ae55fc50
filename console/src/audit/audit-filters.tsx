import { useState } from 'preact/hooks';
import { AUDIT_EVENT_TYPES } from '../../../server/audit/event-types';
import type { AuditOutcome } from '../gql/graphql';
import { fromLocalInputValue, toLocalInputValue } from '../format/time-format';
import type { AuditQuery } from './audit-url';

/**
 * The filter form. Filters apply when submitted (Enter in any field, or the button), so
 * typing does not fire a query per keystroke; the page then puts them in the URL.
 */
export function AuditFilters(props: { query: AuditQuery; servers: string[]; readsAll: boolean; onApply: (query: AuditQuery) => void }) {
  const { query } = props;
  const [user, setUser] = useState(query.user ?? '');
  const [server, setServer] = useState(query.server ?? '');
  const [tool, setTool] = useState(query.tool ?? '');
  const [session, setSession] = useState(query.session ?? '');
  const [type, setType] = useState(query.types?.join(',') ?? '');
  const [outcome, setOutcome] = useState<string>(query.outcome ?? '');
  const [since, setSince] = useState(query.since ? toLocalInputValue(query.since) : '');
  const [until, setUntil] = useState(query.until ? toLocalInputValue(query.until) : '');
  const knownType = type === '' || (AUDIT_EVENT_TYPES as readonly string[]).includes(type);

  const apply = (event: Event) => {
    event.preventDefault();
    props.onApply({
      order: query.order,
      user: user.trim() || undefined,
      server: server || undefined,
      tool: tool.trim() || undefined,
      session: session.trim() || undefined,
      types: type ? type.split(',') : undefined,
      outcome: (outcome || undefined) as AuditOutcome | undefined,
      since: fromLocalInputValue(since),
      until: fromLocalInputValue(until),
    });
  };

  return (
    <form class="filters" onSubmit={apply} aria-label="Audit filters">
      <div class="filters-grid">
        <div class="field">
          <label for="audit-user">User</label>
          <input id="audit-user" type="text" value={user} placeholder={props.readsAll ? 'email' : 'only your own events'} onInput={(e) => setUser(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="audit-server">Server</label>
          <select id="audit-server" value={server} onChange={(e) => setServer(e.currentTarget.value)}>
            <option value="">Any server</option>
            {props.servers.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
            {server && !props.servers.includes(server) && <option value={server}>{server}</option>}
          </select>
        </div>
        <div class="field">
          <label for="audit-tool">Tool</label>
          <input id="audit-tool" type="text" value={tool} onInput={(e) => setTool(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="audit-session">Session</label>
          <input id="audit-session" type="text" value={session} onInput={(e) => setSession(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="audit-type">Event type</label>
          <select id="audit-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value="">Any type</option>
            {AUDIT_EVENT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
            {!knownType && <option value={type}>{type.replace(/,/g, ', ')}</option>}
          </select>
        </div>
        <div class="field">
          <label for="audit-outcome">Outcome</label>
          <select id="audit-outcome" value={outcome} onChange={(e) => setOutcome(e.currentTarget.value)}>
            <option value="">Any outcome</option>
            <option value="SUCCESS">Success</option>
            <option value="DENIED">Denied</option>
            <option value="ERROR">Error</option>
          </select>
        </div>
        <div class="field">
          <label for="audit-since">From</label>
          <input id="audit-since" type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="audit-until">Until</label>
          <input id="audit-until" type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
        </div>
      </div>
      <div class="actions">
        <button type="submit">Apply filters</button>
        <button type="button" class="button-secondary" onClick={() => props.onApply({ order: query.order })}>
          Clear filters
        </button>
      </div>
    </form>
  );
}
