import { describe, expect, it } from 'vitest';
import { skipsRepeatConsent } from '../../server/oauth/redirect-uris.js';

describe('which redirect a remembered consent lets go without the page', () => {
  it('an https web callback only', () => {
    expect(skipsRepeatConsent('https://app.example.com/oauth/callback')).toBe(true);
  });

  it('never one that reaches this machine, however named, even among origins an operator allowed (any local program may listen there)', () => {
    for (const uri of ['http://127.0.0.1:7777/callback', 'https://127.0.0.1/callback', 'https://127.0.0.2:8443/cb', 'https://localhost/cb', 'https://app.localhost/cb', 'https://[::1]/cb', 'https://[::ffff:127.0.0.1]/cb', 'https://0.0.0.0/cb', 'https://[::]/cb', 'https://localhost./cb', 'https://a.localhost./cb', 'https://127.1/cb', 'cursor://anysphere.cursor-mcp/oauth/callback', 'not a uri']) {
      expect(skipsRepeatConsent(uri), uri).toBe(false);
    }
  });
});
