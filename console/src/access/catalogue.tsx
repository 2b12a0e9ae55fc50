import type { CatalogueQuery } from '../gql/graphql';
import { formatSpan } from '../format/time-format';
import { DataTable } from '../ui/data-table';
import { Empty } from '../ui/messages';
import { describePatterns } from './pattern-list';

export type CatalogueServer = CatalogueQuery['mcpServers'][number];
export type CatalogueTool = NonNullable<CatalogueServer['tools']>[number];

/** A server the caller may ask for anything on. */
export function isRequestable(server: CatalogueServer): boolean {
  return server.requestableTools.length > 0 || server.requestableResources.length > 0 || server.requestablePrompts.length > 0;
}

export function ToolBadges({ tool }: { tool: CatalogueTool }) {
  return (
    <>
      {tool.readOnly && <span class="badge badge-safe">read-only</span>}
      {tool.destructive && <span class="badge badge-danger">destructive</span>}
    </>
  );
}

/** The servers I may request, each with its tools as the broker reads them now. */
export function Catalogue(props: { servers: CatalogueServer[]; onRequest: (server: string) => void }) {
  if (props.servers.length === 0) {
    return <Empty>There is no server you may request access to. Your roles come from your identity provider's groups; ask an administrator if you need one.</Empty>;
  }
  return (
    <ul class="cards">
      {props.servers.map((server) => (
        <li key={server.name}>
          <ServerCard server={server} onRequest={props.onRequest} />
        </li>
      ))}
    </ul>
  );
}

function ServerCard({ server, onRequest }: { server: CatalogueServer; onRequest: (server: string) => void }) {
  const headingId = `server-${server.name}`;
  return (
    <article class="card" aria-labelledby={headingId}>
      <h3 id={headingId}>{server.name}</h3>
      {server.description && <p>{server.description}</p>}
      <dl class="details">
        <dt>Tools you may request</dt>
        <dd>{describePatterns(server.requestableTools)}</dd>
        {server.requestableResources.length > 0 && (
          <>
            <dt>Resources</dt>
            <dd>{describePatterns(server.requestableResources)}</dd>
          </>
        )}
        {server.requestablePrompts.length > 0 && (
          <>
            <dt>Prompts</dt>
            <dd>{describePatterns(server.requestablePrompts)}</dd>
          </>
        )}
        {server.maxDurationSeconds != null && (
          <>
            <dt>Longest duration</dt>
            <dd>{formatSpan(server.maxDurationSeconds)}</dd>
          </>
        )}
      </dl>
      <ToolTable server={server} />
      <button type="button" onClick={() => onRequest(server.name)}>
        Request access to {server.name}
      </button>
    </article>
  );
}

function ToolTable({ server }: { server: CatalogueServer }) {
  if (server.toolsError) {
    return (
      <p class="notice notice-warning">
        The broker could not read this server's tools just now: {server.toolsError}. You can still request tools by name.
      </p>
    );
  }
  if (!server.tools) return null;
  if (server.tools.length === 0) return <Empty>This server offers no tools.</Empty>;
  return (
    <DataTable caption={`Tools on ${server.name}`} columns={['Tool', 'Description', 'Annotations']}>
      {server.tools.map((tool) => (
        <tr key={tool.name}>
          <th scope="row">
            <code>{tool.name}</code>
            {tool.title && <div class="muted">{tool.title}</div>}
          </th>
          <td>{tool.description ?? <span class="muted">No description</span>}</td>
          <td>
            <ToolBadges tool={tool} />
          </td>
        </tr>
      ))}
    </DataTable>
  );
}
