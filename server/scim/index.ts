import type { AccessPolicy } from '../access/access-policy.js';
import type { AccessService } from '../access/access-service.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { limitPerClient } from '../http/rate-limit.js';
import type { Identity } from '../identity/index.js';
import type { Logger } from '../log.js';
import type { Stores } from '../stores/types.js';
import { ScimIdentityEffects } from './identity-effects.js';
import { scimRoutes } from './routes.js';
import { ScimClients } from './scim-clients.js';
import { ScimService } from './scim-service.js';

/** The SCIM 2.0 endpoint, when some IdP has `scim` configured; null otherwise (no route answers). */
export function createScim(deps: { config: PortcullisConfig; stores: Stores; clock: Clock; identity: Identity; access: AccessService; policy: AccessPolicy; logger: Logger }) {
  const { config, stores, clock, identity, logger } = deps;
  const clients = new ScimClients(config.identityProviders);
  if (!clients.enabled) return null;
  const effects = new ScimIdentityEffects({
    store: stores.scim,
    events: identity.credentialEvents,
    sessions: identity.sessions,
    tokens: identity.tokens,
    oauth: identity.oauthTokens,
    access: deps.access,
    policy: deps.policy,
    roles: config.roles,
    clock,
  });
  const service = new ScimService({ store: stores.scim, audit: stores.audit, clock, lock: (key, work) => stores.access.withLock(key, work), effects });
  const rateLimit = limitPerClient(stores.rateLimits.limiter('scim', config.rateLimits.scim), logger, clock);
  return scimRoutes({ service, clients, rateLimit, publicUrl: config.server.publicUrl, logger });
}
