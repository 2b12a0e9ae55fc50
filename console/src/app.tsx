import { Provider, useQuery } from '@urql/preact';
import { LocationProvider, Route, Router } from 'preact-iso';
import { GrantsPage } from './access/grants-page';
import { HomePage } from './access/home-page';
import { RequestsPage } from './access/requests-page';
import { ReviewPage } from './access/review-page';
import { AnomaliesPage } from './anomalies/anomalies-page';
import { AnomalyPage } from './anomalies/anomaly-page';
import { AuditPage } from './audit/audit-page';
import { ConnectPage } from './connect/connect-page';
import { ViewerDocument } from './gql/graphql';
import type { Connection } from './graphql/connection';
import { ConnectionContext } from './graphql/connection-context';
import { NotificationsPage } from './notifications/notifications-page';
import { Header } from './shell/header';
import { NotFound } from './shell/page';
import { ViewerContext } from './shell/viewer';
import { TokensPage } from './tokens/tokens-page';
import { LoadError, Loading } from './ui/messages';

export function App({ connection }: { connection: Connection }) {
  return (
    <ConnectionContext.Provider value={connection}>
      <Provider value={connection.client}>
        <LocationProvider>
          <Shell />
        </LocationProvider>
      </Provider>
    </ConnectionContext.Provider>
  );
}

/** Header, navigation and the page, once we know who is signed in. */
function Shell() {
  const [viewer] = useQuery({ query: ViewerDocument });
  if (!viewer.data) {
    return (
      <main id="main" class="page-card">
        <h1>Portcullis</h1>
        {viewer.error ? <LoadError error={viewer.error} what="your session" /> : <Loading what="your session" />}
      </main>
    );
  }
  return (
    <ViewerContext.Provider value={viewer.data.viewer}>
      <Header />
      <main id="main" class="content">
        <Router>
          <Route path="/" component={HomePage} />
          <Route path="/requests" component={RequestsPage} />
          <Route path="/review" component={ReviewPage} />
          <Route path="/grants" component={GrantsPage} />
          <Route path="/audit" component={AuditPage} />
          <Route path="/anomalies" component={AnomaliesPage} />
          <Route path="/anomalies/:id" component={AnomalyPage} />
          <Route path="/notifications" component={NotificationsPage} />
          <Route path="/tokens" component={TokensPage} />
          <Route path="/connect" component={ConnectPage} />
          <Route default component={NotFound} />
        </Router>
      </main>
    </ViewerContext.Provider>
  );
}
