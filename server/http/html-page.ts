import type { Response } from 'express';

/** A minimal HTML page (the only HTML the broker serves: sign-in steps). */
export function sendPage(res: Response, title: string, body: string, status = 200): void {
  res
    .status(status)
    .type('html')
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title></head><body style="font-family:sans-serif;max-width:40em;margin:2em auto">${body}</body></html>`);
}

/** Escapes text for HTML content and quoted attribute values. */
export function html(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
