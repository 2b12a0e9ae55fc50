/**
 * After a refusal, focus the first field it concerns (in the form's order), so a keyboard
 * or screen-reader user lands on the message instead of hunting for it.
 */
export function focusFirstError(errors: Record<string, string>, fieldIds: Record<string, string>): void {
  const field = Object.keys(fieldIds).find((name) => errors[name]);
  if (field) document.getElementById(fieldIds[field]!)?.focus();
}
