/**
 * A refused mutation, sorted for a form: an error whose `extensions.field` names one of
 * the form's fields is shown next to that field; the rest (another field, no field, a
 * network failure) above the form. The API sets `extensions.field` to the input's field
 * name (`durationSeconds`, `tools`, `reason`, `ttlSeconds`...).
 */

export interface ApiError {
  message: string;
  extensions?: Record<string, unknown>;
}

export interface SortedErrors {
  /** Field name → the message to show next to it (several refusals of one field joined). */
  fields: Record<string, string>;
  /** Messages about the form as a whole. */
  form: string[];
}

/** What urql's CombinedError carries, without depending on urql here. */
export interface ErrorLike {
  graphQLErrors?: readonly ApiError[];
  networkError?: Error | undefined;
}

export function sortErrors(error: ErrorLike | undefined, formFields: readonly string[]): SortedErrors {
  const sorted: SortedErrors = { fields: {}, form: [] };
  if (!error) return sorted;
  for (const e of error.graphQLErrors ?? []) {
    const field = e.extensions?.field;
    if (typeof field === 'string' && formFields.includes(field)) {
      sorted.fields[field] = sorted.fields[field] ? `${sorted.fields[field]} ${e.message}` : e.message;
    } else {
      sorted.form.push(e.message);
    }
  }
  if (error.networkError) sorted.form.push(networkMessage(error.networkError));
  return sorted;
}

/** A failure to reach the broker, in plain words. */
export function networkMessage(error: Error): string {
  return /fetch|network/i.test(error.message) ? 'The broker could not be reached. Check your connection and try again.' : `The broker answered with an error: ${error.message}`;
}

/** A refusal's code, if any error carries one (UNAUTHENTICATED, FORBIDDEN...). */
export function errorCodes(error: ErrorLike | undefined): string[] {
  return (error?.graphQLErrors ?? []).flatMap((e) => (typeof e.extensions?.code === 'string' ? [e.extensions.code] : []));
}
