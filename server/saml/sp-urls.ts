/** Our SAML endpoints for one IdP, under the public URL (which may carry a path prefix). */
export interface SpUrls {
  login: string;
  acs: string;
  metadata: string;
}

export function spUrls(publicUrl: string, idpId: string): SpUrls {
  const base = `${publicUrl.replace(/\/+$/, '')}/auth/saml/${encodeURIComponent(idpId)}`;
  return { login: `${base}/login`, acs: `${base}/acs`, metadata: `${base}/metadata` };
}
