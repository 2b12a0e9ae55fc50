import type { Delivery, NotificationEvent } from '../../server/notifications/types.js';

/** A pending request as the dispatcher describes it to sinks. */
export const pendingRequest = {
  id: 'req-7',
  requester: 'carol@example.com',
  server: 'payments-db',
  tools: ['query', 'export_rows'],
  resources: [] as string[],
  prompts: [] as string[],
  readOnly: false,
  filedByAgent: null as { client: string | null } | null,
  durationSeconds: 5_400,
  reason: 'Incident INC-42: reconcile refunds',
  status: 'pending',
};

/** A delivery to `sink` of an event (by default: the request above, just created), to `recipients`. */
export function notificationDelivery(sink: string, event: Partial<NotificationEvent> = {}, recipients = ['alice@example.com', 'bob@example.com']): Delivery {
  return {
    id: `${sink}:${event.id ?? 'evt-1'}`,
    sink,
    attempt: 1,
    memo: null,
    recipients,
    event: {
      id: 'evt-1',
      type: 'access_request.created',
      time: '2026-11-30T05:00:00.000Z',
      actor: 'carol@example.com',
      request: pendingRequest,
      links: {
        console: 'https://portcullis.example.com/console/requests/req-7',
        approve: 'https://portcullis.example.com/console/requests/req-7?decide=approve',
        deny: 'https://portcullis.example.com/console/requests/req-7?decide=deny',
      },
      ...event,
    },
  };
}

export const anAnomaly = { id: 'an-1', rule: 'bulk_export', severity: 'high', user: 'dave@example.com', summary: '412 export calls in 5 minutes' };
