import { useMutation, useQuery } from '@urql/preact';
import { useState } from 'preact/hooks';
import { ConsoleOAuthAuthorizationsDocument, ConsoleRevokeOAuthAuthorizationDocument } from '../gql/graphql';
import type { ConsoleOAuthAuthorizationFragment } from '../gql/graphql';
import { DataTable } from '../ui/data-table';
import { Empty, LoadError, Loading } from '../ui/messages';
import { Time } from '../ui/time';
import { RevokeDialog } from './revoke-dialog';

/**
 * Named for urql's document cache (see TOKENS_CONTEXT): an empty list holds no typename, so
 * a revocation would not refetch it. Clients connect outside the console, so the list is
 * also asked for again each time the page opens.
 */
const AUTHORIZATIONS_CONTEXT = { additionalTypenames: ['OAuthAuthorization'] };

/** The MCP clients the person connected by OAuth (their approvals on the consent page), each revocable. */
export function ConnectedClients({ onMessage }: { onMessage: (message: string) => void }) {
  const [authorizations] = useQuery({ query: ConsoleOAuthAuthorizationsDocument, context: AUTHORIZATIONS_CONTEXT, requestPolicy: 'cache-and-network' });
  const [revoking, setRevoking] = useState<ConsoleOAuthAuthorizationFragment | null>(null);
  return (
    <section aria-labelledby="connected-clients-title">
      <h2 id="connected-clients-title">Connected MCP clients</h2>
      <p>Applications you allowed on the consent page to reach an MCP endpoint as you. Each name is what the application calls itself.</p>
      {authorizations.error ? (
        <LoadError error={authorizations.error} what="your connected MCP clients" />
      ) : !authorizations.data ? (
        <Loading what="your connected MCP clients" />
      ) : authorizations.data.oauthAuthorizations.length === 0 ? (
        <Empty>No MCP client is connected with your sign-in.</Empty>
      ) : (
        <DataTable caption="MCP clients you connected by OAuth" columns={['Client', 'Client id', 'MCP endpoint', 'Since', 'Until', { label: 'Actions', hidden: true }]}>
          {authorizations.data.oauthAuthorizations.map((authorization) => (
            <tr key={authorization.id}>
              <th scope="row">{authorization.clientName}</th>
              <td>
                <code>{authorization.clientId}</code>
              </td>
              <td>
                <code>{authorization.resource}</code>
              </td>
              <td>
                <Time iso={authorization.createdAt} />
              </td>
              <td>
                <Time iso={authorization.expiresAt} />
              </td>
              <td>
                <button type="button" class="button-danger" onClick={() => setRevoking(authorization)}>
                  Revoke<span class="visually-hidden"> {authorization.clientName}</span>
                </button>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {revoking && (
        <RevokeClient
          authorization={revoking}
          onClose={(done) => {
            setRevoking(null);
            if (done) onMessage(done);
          }}
        />
      )}
    </section>
  );
}

function RevokeClient({ authorization, onClose }: { authorization: ConsoleOAuthAuthorizationFragment; onClose: (message?: string) => void }) {
  const [result, revoke] = useMutation(ConsoleRevokeOAuthAuthorizationDocument);
  return (
    <RevokeDialog
      title={`Disconnect “${authorization.clientName}”`}
      consequence={`Its tokens for ${authorization.resource} are refused from now on and its open MCP sessions end. To use it again, connect it again.`}
      confirm="Revoke access"
      keep="Keep it"
      fetching={result.fetching}
      error={result.error}
      onRevoke={async () => {
        const answer = await revoke({ id: authorization.id });
        if (answer.data) onClose(`“${authorization.clientName}” was disconnected.`);
      }}
      onClose={() => onClose()}
    />
  );
}
