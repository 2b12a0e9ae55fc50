import { PortcullisError } from '../../server/errors.js';

/** The stable code a service call was refused with (fails the test when it was not refused). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PortcullisError) return error.code;
    throw error;
  }
  throw new Error('expected a refusal');
}
