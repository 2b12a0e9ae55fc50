import { useQuery } from '@urql/preact';
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { CatalogueDocument } from '../gql/graphql';
import { Page } from '../shell/page';
import { LoadError, Loading, StatusMessage } from '../ui/messages';
import { Catalogue, isRequestable } from './catalogue';
import { MyRequests } from './my-requests';
import { RequestForm } from './request-form';

/** `/requests`: what I may request (with live tool lists), the request form, my requests. */
export function RequestsPage() {
  const { query, route } = useLocation();
  const [catalogue] = useQuery({ query: CatalogueDocument });
  const [done, setDone] = useState('');
  const servers = (catalogue.data?.mcpServers ?? []).filter(isRequestable);
  const selected = servers.find((s) => s.name === query.server);
  const select = (server: string | undefined) => route(server ? `/requests?server=${encodeURIComponent(server)}` : '/requests', true);
  return (
    <Page title="Request access" intro="Ask for time-boxed access to a server's tools. A reviewer approves or denies it; you see the decision here as it happens.">
      <StatusMessage message={done} />
      {selected && (
        <section class="panel">
          <RequestForm
            key={selected.name}
            server={selected}
            onDone={(message) => {
              setDone(message);
              select(undefined);
            }}
            onCancel={() => select(undefined)}
          />
        </section>
      )}
      <section aria-labelledby="catalogue-title">
        <h2 id="catalogue-title">Servers you may request</h2>
        {catalogue.error ? (
          <LoadError error={catalogue.error} what="the servers" />
        ) : !catalogue.data ? (
          <Loading what="the servers and their tools" />
        ) : (
          <Catalogue
            servers={servers}
            onRequest={(name) => {
              setDone('');
              select(name);
            }}
          />
        )}
      </section>
      <section aria-labelledby="my-requests-title">
        <h2 id="my-requests-title">My requests</h2>
        <MyRequests />
      </section>
    </Page>
  );
}
