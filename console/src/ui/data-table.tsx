import type { ComponentChildren } from 'preact';

/** A column header: its text, or a header of its own (the audit log's sort button). */
export type Column = string | { label: string; hidden?: boolean; sort?: 'ascending' | 'descending'; header?: ComponentChildren };

/**
 * A data table as every list in the console draws it: a caption naming it, column
 * headers with scope, and a scroll box so a wide table scrolls by itself on a narrow
 * window instead of widening the page. The box is a named, focusable region so that a
 * keyboard can scroll it too (WCAG 2.1.1; axe: scrollable-region-focusable). Actions
 * columns pass `hidden` labels: named for screen readers, blank on screen.
 */
export function DataTable(props: { caption: string; columns: Column[]; class?: string; children: ComponentChildren }) {
  return (
    <div class="table-scroll" role="region" aria-label={props.caption} tabIndex={0}>
      <table class={props.class}>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((column) => {
              const { label, hidden, sort, header } = typeof column === 'string' ? { label: column } : column;
              return (
                <th key={label} scope="col" aria-sort={sort}>
                  {header ?? (hidden ? <span class="visually-hidden">{label}</span> : label)}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
