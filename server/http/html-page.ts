import type { Response } from 'express';

/** The one stylesheet every page shares, the console's included (a stable name: no hash). */
export const STYLESHEET_PATH = '/assets/portcullis.css';

export interface PageOptions {
  status?: number;
  /** Where the page's forms may post besides our own origin (a client's redirect, the CLI's listener). */
  formTargets?: readonly string[];
  /** The nonce of the page's one script, when it has one (the development IdP's auto-post). */
  scriptNonce?: string;
}

/**
 * A server-rendered page (sign-in steps, consent) in the console's look, under a strict
 * Content-Security-Policy of its own: our stylesheet only, no script unless nonce'd,
 * forms back to us (and the named targets), never framed.
 */
export function sendPage(res: Response, title: string, body: string, options: PageOptions = {}): void {
  res.setHeader('Content-Security-Policy', pageSecurityPolicy(options));
  res
    .status(options.status ?? 200)
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${html(title)} · Portcullis</title><link rel="stylesheet" href="${STYLESHEET_PATH}"></head>` +
        `<body class="page"><header class="site-header"><div class="site-header-bar"><span class="brand">Portcullis</span></div></header><main class="page-card">${body}</main></body></html>`,
    );
}

function pageSecurityPolicy(options: PageOptions): string {
  return [
    `default-src 'none'`,
    `style-src 'self'`,
    `img-src 'self'`,
    options.scriptNonce === undefined ? null : `script-src 'nonce-${options.scriptNonce}'`,
    `form-action ${["'self'", ...(options.formTargets ?? [])].join(' ')}`,
    `base-uri 'none'`,
    `frame-ancestors 'none'`,
  ]
    .filter((directive) => directive !== null)
    .join('; ');
}

/** Escapes text for HTML content and quoted attribute values. */
export function html(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
