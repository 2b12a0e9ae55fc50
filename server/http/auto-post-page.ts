import { randomBytes } from 'node:crypto';
import type { Response } from 'express';
import { html, sendPage } from './html-page.js';

/**
 * A form the browser posts on at once to another site (the SAML HTTP-POST binding: a
 * response to an ACS, a LogoutResponse to an IdP): one nonce'd script, a button where
 * scripts do not run, and a CSP that lets the form go to that origin only.
 */
export function sendAutoPost(res: Response, page: { title: string; action: string; fields: Readonly<Record<string, string>>; button: string }): void {
  const nonce = randomBytes(16).toString('base64');
  const inputs = Object.entries(page.fields)
    .map(([name, value]) => `<input type="hidden" name="${html(name)}" value="${html(value)}">`)
    .join('');
  sendPage(
    res,
    page.title,
    `<form id="post" method="post" action="${html(page.action)}">${inputs}<button type="submit">${html(page.button)}</button></form><script nonce="${nonce}">document.getElementById('post').submit()</script>`,
    { scriptNonce: nonce, formTargets: [new URL(page.action).origin] },
  );
}
