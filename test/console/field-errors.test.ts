import { describe, expect, it } from 'vitest';
import { sortErrors } from '../../console/src/forms/field-errors';
import { isSignedOut, signInUrl } from '../../console/src/graphql/session-expiry';

describe('API refusals next to the field they concern', () => {
  const fields = ['durationSeconds', 'tools', 'reason'];

  it('puts an error naming one of the form\'s fields next to it', () => {
    const sorted = sortErrors({ graphQLErrors: [{ message: 'longer than the 1h your rule allows', extensions: { code: 'INVALID_INPUT', field: 'durationSeconds' } }] }, fields);
    expect(sorted).toEqual({ fields: { durationSeconds: 'longer than the 1h your rule allows' }, form: [] });
  });

  it('joins two refusals of one field', () => {
    const sorted = sortErrors(
      {
        graphQLErrors: [
          { message: 'write_file is not requestable.', extensions: { field: 'tools' } },
          { message: 'delete_file is not requestable.', extensions: { field: 'tools' } },
        ],
      },
      fields,
    );
    expect(sorted.fields.tools).toBe('write_file is not requestable. delete_file is not requestable.');
  });

  it('shows above the form an error about no field, or about a field the form does not have', () => {
    const sorted = sortErrors(
      {
        graphQLErrors: [
          { message: 'unknown server', extensions: { code: 'NOT_FOUND', field: 'server' } },
          { message: 'not allowed', extensions: { code: 'FORBIDDEN' } },
        ],
      },
      fields,
    );
    expect(sorted).toEqual({ fields: {}, form: ['unknown server', 'not allowed'] });
  });

  it('says in plain words that the broker could not be reached', () => {
    expect(sortErrors({ networkError: new TypeError('Failed to fetch') }, fields).form).toEqual(['The broker could not be reached. Check your connection and try again.']);
  });

  it('has nothing to show without an error', () => {
    expect(sortErrors(undefined, fields)).toEqual({ fields: {}, form: [] });
  });
});

describe('an ended sign-in sends the browser to sign in again and back', () => {
  it('recognises UNAUTHENTICATED and HTTP 401, nothing else', () => {
    expect(isSignedOut({ graphQLErrors: [{ message: 'session expired', extensions: { code: 'UNAUTHENTICATED' } }] })).toBe(true);
    expect(isSignedOut({ graphQLErrors: [], response: { status: 401 } })).toBe(true);
    expect(isSignedOut({ graphQLErrors: [{ message: 'no', extensions: { code: 'FORBIDDEN' } }], response: { status: 200 } })).toBe(false);
    expect(isSignedOut(undefined)).toBe(false);
  });

  it('returns to the same page and query', () => {
    expect(signInUrl({ pathname: '/audit', search: '?user=alice%40example.com&outcome=denied' })).toBe('/signin?returnTo=%2Faudit%3Fuser%3Dalice%2540example.com%26outcome%3Ddenied');
  });
});
