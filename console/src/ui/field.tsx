import type { ComponentChildren } from 'preact';

/**
 * A labelled form field with its hint and its error, wired for assistive technology:
 * the control (given `id`, `aria-describedby` and `aria-invalid` by the caller via
 * `describedBy`) is named by the label and described by hint and error.
 */
export function Field(props: { id: string; label: string; hint?: ComponentChildren; error?: string; children: ComponentChildren }) {
  return (
    <div class={`field${props.error ? ' field-invalid' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.hint && (
        <p class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.children}
      {props.error && (
        <p class="field-error" id={`${props.id}-error`}>
          {props.error}
        </p>
      )}
    </div>
  );
}

/** The `aria-describedby` and `aria-invalid` of a control inside a Field with this id. */
export function describedBy(id: string, options: { hint?: boolean; error?: string }) {
  const ids = [options.hint ? `${id}-hint` : '', options.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { 'aria-describedby': ids || undefined, 'aria-invalid': options.error ? true : undefined };
}
