import type { Response } from 'express';
import { StoreFullError, StoreUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * A sign-in endpoint could not finish because the store (or something else we depend on)
 * failed, or too many sign-ins are pending: refuse, and never set a cookie.
 */
export function failClosed(res: Response, logger: Logger, error: unknown): void {
  const full = error instanceof StoreFullError;
  const unavailable = full || error instanceof StoreUnavailableError;
  if (full) logger.warn('sign-in start refused: the store holds its capacity of pending sign-ins');
  else if (!unavailable) logger.error({ err: error }, 'sign-in endpoint failed');
  if (res.headersSent) return;
  if (!unavailable) return void res.status(500).type('text/plain').send('Internal error.');
  res.status(503).type('text/plain').send(full ? 'Too many sign-ins in progress: try again shortly.' : 'Service unavailable: try again shortly.');
}
