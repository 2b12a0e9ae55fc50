import type { ComponentChildren } from 'preact';
import type { CombinedError } from '@urql/core';
import { networkMessage } from '../forms/field-errors';

/** A failed load, in plain words, announced to screen readers. */
export function LoadError({ error, what }: { error: CombinedError; what: string }) {
  const detail = error.networkError ? networkMessage(error.networkError) : error.graphQLErrors.map((e) => e.message).join(' ');
  return (
    <p class="notice notice-error" role="alert">
      Could not load {what}. {detail}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

/** What an empty list means, and what to do about it. */
export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** Errors about a whole form (not one field). */
export function FormErrors({ messages }: { messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <div class="notice notice-error" role="alert">
      {messages.map((message) => (
        <p key={message}>{message}</p>
      ))}
    </div>
  );
}

/** A polite live region, present from the start so screen readers announce what appears in it. */
export function StatusMessage({ message }: { message: string }) {
  return <div role="status">{message && <p class="notice notice-success">{message}</p>}</div>;
}
