import { InvalidInputError } from '../errors.js';

/** Longest free text a person types into a decision (a reason, a note): enough to explain, short enough for every audit sink. */
export const MAX_REASON = 1000;

/** Trimmed free text from an input field, refused (naming the field) when empty but required, or too long. */
export function boundedText(value: string, name: string, required: boolean): string {
  const text = value.trim();
  if (required && text.length === 0) throw new InvalidInputError(`${name} must not be empty`, name);
  if (text.length > MAX_REASON) throw new InvalidInputError(`${name} must be at most ${MAX_REASON} characters`, name);
  return text;
}
