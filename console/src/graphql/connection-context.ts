import { createContext } from 'preact';
import { useContext, useEffect } from 'preact/hooks';
import type { Connection } from './connection';

export const ConnectionContext = createContext<Connection | null>(null);

export function useConnection(): Connection {
  const connection = useContext(ConnectionContext);
  if (!connection) throw new Error('useConnection outside ConnectionContext');
  return connection;
}

/** Runs `refetch` whenever the subscription socket reconnects (events may have been missed meanwhile). */
export function useRefetchOnReconnect(refetch: () => void): void {
  const { onReconnect } = useConnection();
  useEffect(() => onReconnect(refetch), [onReconnect, refetch]);
}
