import { AccessPolicy } from '../../server/access/access-policy.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { Principals } from '../../server/identity/principal.js';
import type { EventSources } from '../../server/notifications/notification-event.js';
import { ReviewerRecipients } from '../../server/notifications/reviewer-recipients.js';
import type { Stores } from '../../server/stores/types.js';

/** Where a dispatcher under test reads requests and reviewers from: the store's directory, users of the access fixture's one IdP `corp`. */
export function notificationSources(config: PortcullisConfig, stores: Stores): EventSources {
  const principals = new Principals({ idps: [{ id: 'corp', emailDomains: undefined }], roles: config.roles });
  return {
    access: stores.access,
    reviewers: new ReviewerRecipients({ policy: new AccessPolicy(config), roles: config.roles, directory: stores.directory, principals }),
    publicUrl: config.server.publicUrl,
  };
}
