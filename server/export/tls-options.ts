import type { ConnectionOptions } from 'node:tls';
import type { TlsClientConfig } from './export-config.js';

/**
 * Node TLS options for a receiver: always verified (Node's default, stated here so no spread
 * can turn it off), against the private CA when one is given, with the client certificate
 * when one is configured.
 */
export function tlsOptions(tls: TlsClientConfig): ConnectionOptions {
  return {
    rejectUnauthorized: true,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.serverName === undefined ? {} : { servername: tls.serverName }),
    ...(tls.clientCertificate === undefined || tls.clientKey === undefined ? {} : { cert: tls.clientCertificate, key: tls.clientKey }),
  };
}
