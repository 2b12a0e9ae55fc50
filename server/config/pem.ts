import { X509Certificate } from 'node:crypto';
import { z } from 'zod';

/** A PEM X.509 certificate (a trust anchor, a client certificate), checked when the config loads rather than at the first connection. */
export const pemCertificate = z
  .string({ error: 'expected a PEM certificate' })
  .trim()
  .min(1, 'expected a PEM certificate')
  .refine((v) => {
    try {
      new X509Certificate(v);
      return true;
    } catch {
      return false;
    }
  }, 'expected a PEM-encoded X.509 certificate');
