import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/**
 * A page's main heading and title. The heading takes focus when the route changes, so a
 * keyboard or screen-reader user lands at the new page's start (the router does not
 * reload the document); not on the first page of a load, where the browser starts at the
 * top anyway.
 */
/** Whether a page was shown already in this document (then the next one came by routing). */
let shownOne = false;

export function Page(props: { title: string; intro?: ComponentChildren; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} · Portcullis`;
    if (shownOne) heading.current?.focus({ preventScroll: true });
    shownOne = true;
  }, [props.title]);
  return (
    <>
      <h1 ref={heading} tabIndex={-1}>
        {props.title}
      </h1>
      {props.intro && <p class="intro">{props.intro}</p>}
      {props.children}
    </>
  );
}

export function NotFound() {
  return (
    <Page title="Page not found">
      <p>
        There is no page here. <a href="/">Go to the overview</a>.
      </p>
    </Page>
  );
}
