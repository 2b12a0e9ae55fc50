import { render } from 'preact';
import { App } from './app';
import { createConnection } from './graphql/connection';
import { departure, signInUrl } from './graphql/session-expiry';

const connection = createConnection({
  origin: location.origin,
  // The sign-in ended (expired, revoked, signed out elsewhere): sign in again and come back here.
  onSignedOut: () => {
    if (departure.claim('signed-out')) location.assign(signInUrl(location));
  },
});

const root = document.getElementById('app');
if (root) render(<App connection={connection} />, root);
