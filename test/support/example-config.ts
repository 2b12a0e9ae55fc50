import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from './certificates.js';

export const EXAMPLE_SECRETS = {
  EVERYTHING_API_KEY: 'sk-everything-0123456789abcdef',
  REMOTE_DOCS_TOKEN: 'remote-docs-token-fedcba9876543210',
  SPLUNK_HEC_TOKEN: 'splunk-hec-token-0f1e2d3c4b5a6978',
};

/**
 * infra/portcullis.example.yaml in a scratch directory with what its references need:
 * the IdP certificate file beside it and the secrets in an environment.
 */
export async function exampleConfigFixture(): Promise<{ file: string; dir: string; env: NodeJS.ProcessEnv }> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-example-'));
  mkdirSync(join(dir, 'certs'));
  writeFileSync(join(dir, 'certs', 'corp-idp.pem'), (await selfSignedCertificate()).cert);
  const file = join(dir, 'portcullis.yaml');
  copyFileSync('infra/portcullis.example.yaml', file);
  return { file, dir, env: { ...EXAMPLE_SECRETS } };
}
