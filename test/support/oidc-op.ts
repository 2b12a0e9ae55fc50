import { createHmac, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { oidcCallbackUrl } from '../../server/oidc/urls.js';
import { TEST_PUBLIC_URL } from './test-idp.js';

/** A person at the test provider: the claims it puts in their ID token. */
export interface OpAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
  groups?: unknown;
}

/** What the provider's sign-in step does for the next authorization: sign in this account, or answer with an OAuth error. */
export type NextSignIn = { account: string } | { error: string; description: string };

/**
 * A real OpenID Provider (oidc-provider) on loopback: discovery, JWKS, authorization
 * endpoint with PKCE required, token endpoint, ID tokens signed with a key made in setup.
 * Its sign-in step is a tiny handler that signs in whoever the test names (`next`), so a
 * test drives the whole flow over HTTP without a browser. `tamper` lets a test re-sign the
 * ID token the token endpoint returns with other claims (another audience, another nonce),
 * with the provider's own key: a validly signed token that must still be refused.
 */
export interface TestOp {
  issuer: string;
  clientId: string;
  /** The secret of a confidential client (unused by a public one). */
  clientSecret: string;
  next: NextSignIn;
  tamper: ((claims: Record<string, unknown>, tokenResponse: { access_token?: string }) => Record<string, unknown>) | null;
  /** How a tampered token is signed again: the provider's RSA key (RS256), an HMAC with the client secret (HS256), or not at all (none). */
  resignAlg: ResignAlg;
  /** The PKCE verifier the last token request carried (undefined when none). */
  lastCodeVerifier: unknown;
  /** The `identityProviders[]` entry a broker needs to trust this provider. */
  config(overrides?: Record<string, unknown>): Record<string, unknown>;
  close(): Promise<void>;
}

/** `RS256 foreign`: RS256 under the provider's key id, signed with a key that is not the provider's. */
type ResignAlg = 'RS256' | 'RS256 foreign' | 'HS256' | 'none';

export async function startTestOp(id: string, accounts: Record<string, OpAccount>, options: { port?: number; publicUrl?: string; publicClient?: boolean } = {}): Promise<TestOp> {
  const publicUrl = options.publicUrl ?? TEST_PUBLIC_URL;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `${id}-key`, alg: 'RS256', use: 'sig' };
  const clientId = `portcullis-${id}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const httpServer = createServer();
  await new Promise<void>((resolve) => httpServer.listen(options.port ?? 0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        ...(options.publicClient ? { token_endpoint_auth_method: 'none' } : { client_secret: clientSecret }),
        redirect_uris: [oidcCallbackUrl(publicUrl, id)],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    // Scope claims in the ID token itself (the default puts them at userinfo only when an access token is issued).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 600, IdToken: 600, Interaction: 600, Session: 600 },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: unknown, sub: string) => {
      const account = accounts[sub];
      return account && { accountId: sub, claims: async () => ({ sub, ...account }) };
    },
  });

  const op: TestOp = {
    issuer,
    clientId,
    clientSecret,
    next: { account: Object.keys(accounts)[0]! },
    tamper: null,
    resignAlg: 'RS256',
    lastCodeVerifier: undefined,
    config: (overrides = {}) => ({ id, type: 'oidc', displayName: `${id} OIDC`, issuer, clientId, ...(options.publicClient ? {} : { clientSecret }), scopes: ['openid', 'email', 'profile', 'groups'], claims: { groups: 'groups' }, ...overrides }),
    close: () => new Promise((resolve) => httpServer.close(() => resolve())),
  };

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token') return;
    op.lastCodeVerifier = ctx.oidc?.params?.code_verifier;
    const body = ctx.body as { id_token?: string; access_token?: string } | undefined;
    const tamper = op.tamper;
    if (tamper && body?.id_token) ctx.body = { ...body, id_token: resign(body.id_token, (claims) => tamper(claims, body), op.resignAlg, { rsa: createPrivateKey({ key: jwk, format: 'jwk' }), secret: clientSecret }) };
  });

  const callback = provider.callback();
  httpServer.on('request', (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    void (async () => {
      const interaction = await provider.interactionDetails(req, res);
      if ('error' in op.next) return provider.interactionFinished(req, res, { error: op.next.error, error_description: op.next.description }, { mergeWithLastSubmission: false });
      const grant = new provider.Grant({ accountId: op.next.account, clientId });
      grant.addOIDCScope(String(interaction.params.scope));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: op.next.account }, consent: { grantId } }, { mergeWithLastSubmission: false });
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  return op;
}

/** The same JWT with `change` applied to its claims, signed again with `alg`. */
function resign(jwt: string, change: (claims: Record<string, unknown>) => Record<string, unknown>, alg: ResignAlg, keys: { rsa: KeyObject; secret: string }): string {
  const [header, payload] = jwt.split('.') as [string, string];
  const claims = change(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>);
  const newHeader = alg.startsWith('RS256') ? header : Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
  const input = `${newHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature =
    alg === 'RS256'
      ? sign('sha256', Buffer.from(input), keys.rsa)
      : alg === 'RS256 foreign'
        ? sign('sha256', Buffer.from(input), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)
        : alg === 'HS256'
          ? createHmac('sha256', keys.secret).update(input).digest()
          : Buffer.alloc(0);
  return `${input}.${signature.toString('base64url')}`;
}

/** What a browser keeps of one site's cookies: enough for the provider's interaction cookies. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export interface ProviderRoundTrip {
  /** The authorization request the broker sent the browser to. */
  authorization: URL;
  /** The browser-binding cookie the broker set at the start (`name=value`). */
  binding: string;
  /** The callback URL as the provider redirected to it (on the broker's public URL), not yet visited. */
  callbackUrl: URL;
}

export interface OidcSignInResult extends ProviderRoundTrip {
  /** The broker's answer to the callback. */
  callback: Response;
  /** The session cookie (`name=value`) when the broker set one. */
  session: string | null;
}

/** A browser's sign-in up to the provider's redirect back: the broker's login start, then the provider (redirects followed, its cookies kept). */
export async function throughProvider(brokerUrl: string, idpId: string, returnTo = '/'): Promise<ProviderRoundTrip> {
  const start = await fetch(`${brokerUrl}/auth/oidc/${idpId}/login?returnTo=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`login start answered ${start.status}: ${await start.text()}`);
  const binding = cookiePair(start, 'portcullis_oidc');
  if (!binding) throw new Error('login start set no binding cookie');
  const authorization = new URL(start.headers.get('location')!);
  return { authorization, binding, callbackUrl: await followProvider(authorization) };
}

/** A browser's whole sign-in: through the provider, then the broker's callback (reached on `brokerUrl` where the provider sent it to the public URL). */
export async function signInWithOp(brokerUrl: string, idpId: string, returnTo = '/'): Promise<OidcSignInResult> {
  const trip = await throughProvider(brokerUrl, idpId, returnTo);
  const callback = await visitCallback(brokerUrl, trip.callbackUrl, trip.binding);
  return { ...trip, callback, session: cookiePair(callback, 'portcullis_session') };
}

/** Follows the provider's redirects (its own pages only) until it sends the browser away: the callback URL. */
async function followProvider(start: URL): Promise<URL> {
  const jar = new CookieJar();
  let url = start;
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.store(res);
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) throw new Error(`the provider answered ${res.status} at ${url.pathname}: ${await res.text()}`);
    const next = new URL(location, url);
    if (next.origin !== start.origin) return next;
    url = next;
  }
  throw new Error('the provider redirected too many times');
}

/** GET the callback (a public-URL address) on the broker that serves it, with the given cookie. */
export function visitCallback(brokerUrl: string, callbackUrl: URL, cookie: string | null): Promise<Response> {
  return fetch(`${brokerUrl}${callbackUrl.pathname}${callbackUrl.search}`, { redirect: 'manual', headers: cookie ? { cookie } : {} });
}

/** `name=value` of the cookie a response set, or null. */
export function cookiePair(res: Response, name: string): string | null {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  const pair = line?.split(';')[0];
  return pair && pair !== `${name}=` ? pair : null;
}
