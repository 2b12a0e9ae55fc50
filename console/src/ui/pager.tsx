import { useState } from 'preact/hooks';

/** Cursor paging both ways: the API pages forwards only, so the cursors of the pages before this one are kept to go back. */
export function useCursorPages() {
  const [previous, setPrevious] = useState<(string | null)[]>([]);
  const [after, setAfter] = useState<string | null>(null);
  return {
    after,
    hasPrevious: previous.length > 0,
    back: () => {
      setAfter(previous.at(-1) ?? null);
      setPrevious((stack) => stack.slice(0, -1));
    },
    forward: (endCursor: string | null) => {
      setPrevious((stack) => [...stack, after]);
      setAfter(endCursor);
    },
  };
}

/** "Newer …" and "Older …" buttons under a list paged newest first. */
export function Pager(props: { label: string; things: string; pages: ReturnType<typeof useCursorPages>; pageInfo: { endCursor: string | null; hasNextPage: boolean } | undefined }) {
  const { pages, pageInfo } = props;
  return (
    <nav class="pager" aria-label={props.label}>
      <button type="button" class="button-secondary" disabled={!pages.hasPrevious} onClick={pages.back}>
        Newer {props.things}
      </button>
      <button type="button" class="button-secondary" disabled={!pageInfo?.hasNextPage} onClick={() => pages.forward(pageInfo?.endCursor ?? null)}>
        Older {props.things}
      </button>
    </nav>
  );
}
