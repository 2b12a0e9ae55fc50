import { useQuery } from '@urql/preact';
import { useLocation } from 'preact-iso';
import { ConnectionDocument, ServerNamesDocument } from '../gql/graphql';
import type { ConnectionQuery } from '../gql/graphql';
import { Page } from '../shell/page';
import { CopyButton } from '../ui/copy-button';
import { LoadError, Loading } from '../ui/messages';

type Entry = ConnectionQuery['mcpConnection']['entries'][number];

const WHAT: Record<string, string> = { shell: 'command', json: 'configuration', text: 'steps' };

/** `/connect`: the entries MCP clients need, for one server or the federated endpoint. */
export function ConnectPage() {
  const { query, route } = useLocation();
  const server = query.server || undefined;
  const [servers] = useQuery({ query: ServerNamesDocument });
  return (
    <Page title="Connect an MCP client" intro="Point your MCP client at the broker: it signs you in through your browser and uses the grants you hold. No secret goes into these entries.">
      <div class="field">
        <label for="connect-server">Server</label>
        <select id="connect-server" value={server ?? ''} onChange={(e) => route(e.currentTarget.value ? `/connect?server=${encodeURIComponent(e.currentTarget.value)}` : '/connect', true)}>
          <option value="">All my servers (federated endpoint)</option>
          {(servers.data?.mcpServers ?? []).map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
      </div>
      <ConnectionEntries key={server ?? ''} server={server} />
    </Page>
  );
}

function ConnectionEntries({ server }: { server: string | undefined }) {
  const [result] = useQuery({ query: ConnectionDocument, variables: { server } });
  if (result.error) return <LoadError error={result.error} what="the connection details" />;
  if (!result.data) return <Loading what="the connection details" />;
  const connection = result.data.mcpConnection;
  return (
    <>
      <section aria-labelledby="connect-urls-title" class="panel">
        <h2 id="connect-urls-title">Endpoints {server ? `of ${server}` : '(federated)'}</h2>
        <dl class="details">
          <dt>Streamable HTTP</dt>
          <dd>
            <code>{connection.url}</code> <CopyButton text={connection.url} label="Copy the HTTP URL" />
          </dd>
          <dt>WebSocket</dt>
          <dd>
            <code>{connection.webSocketUrl}</code> <CopyButton text={connection.webSocketUrl} label="Copy the WebSocket URL" />
          </dd>
        </dl>
      </section>
      {connection.entries.map((entry) => (
        <ClientEntry key={entry.client} entry={entry} />
      ))}
    </>
  );
}

function ClientEntry({ entry }: { entry: Entry }) {
  const titleId = `connect-${entry.client}`;
  const what = WHAT[entry.format] ?? 'entry';
  return (
    <section aria-labelledby={titleId} class="panel">
      <h2 id={titleId}>{entry.label}</h2>
      <pre class="snippet" tabIndex={0} aria-label={`${entry.label} ${what}`}>
        <code>{entry.text}</code>
      </pre>
      <CopyButton text={entry.text} label={`Copy the ${entry.label} ${what}`} />
    </section>
  );
}
