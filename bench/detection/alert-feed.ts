/**
 * The alerts as a SIEM sees them: an auditor's `auditEvents` subscription (graphql-ws) for
 * `anomaly.detected`, each noted with the wall time it arrived.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface SeenAlert {
  /** The anomaly.detected event's cursor. */
  id: string;
  data: { anomalyId: string; rule: string; user: string; eventIds: string[] };
  /** performance.now() when it arrived. */
  seenAt: number;
}

export interface AlertFeed {
  readonly alerts: SeenAlert[];
  close(): Promise<void>;
}

const FEED = 'subscription { auditEvents(filter: { types: ["anomaly.detected"] }) { id data } }';

/** Resolves once subscribed (the server acknowledged the connection); events before then are not seen. */
export async function followAlerts(wsUrl: string, token: string, onError: (error: unknown) => void): Promise<AlertFeed> {
  const alerts: SeenAlert[] = [];
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => (connected = resolve));
  const client = createClient({ url: `${wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${token}` }, on: { connected: () => connected() } });
  const unsubscribe = client.subscribe<{ auditEvents: { id: string; data: SeenAlert['data'] } }>(
    { query: FEED },
    {
      next: ({ data }) => {
        if (data) alerts.push({ ...data.auditEvents, seenAt: performance.now() });
      },
      error: onError,
      complete: () => {},
    },
  );
  await ready;
  return {
    alerts,
    close: async () => {
      unsubscribe();
      await client.dispose();
    },
  };
}
