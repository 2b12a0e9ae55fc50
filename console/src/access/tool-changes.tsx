import { useMutation, useQuery } from '@urql/preact';
import { ConsoleAcceptToolChangeDocument, ConsoleToolChangesDocument } from '../gql/graphql';
import type { ConsoleToolChangeFragment, ConsoleToolDefinitionFragment } from '../gql/graphql';
import { sortErrors } from '../forms/field-errors';
import { FormErrors, LoadError } from '../ui/messages';
import { Time } from '../ui/time';

/**
 * Tools whose server changed their definition after it was pinned: hidden from clients and
 * refused until a reviewer reads both versions and accepts the new one. Shown only when
 * there is one (or the list cannot be read).
 */
export function ToolChanges({ onAccepted }: { onAccepted: (message: string) => void }) {
  const [changes, refetch] = useQuery({ query: ConsoleToolChangesDocument, requestPolicy: 'cache-and-network' });
  if (changes.error) return <LoadError error={changes.error} what="changed tool definitions" />;
  const items = changes.data?.toolChanges ?? [];
  if (items.length === 0) return null;
  const accepted = (message: string) => {
    onAccepted(message);
    refetch({ requestPolicy: 'network-only' });
  };
  return (
    <section aria-labelledby="tool-changes-title">
      <h2 id="tool-changes-title">Changed tool definitions</h2>
      <p class="intro">
        These servers now describe a tool differently from when it was first seen. Until a reviewer accepts the new definition, the tool is hidden from clients and calls to it are refused
        (a changed description can carry instructions to the model).
      </p>
      <ul class="cards">
        {items.map((change) => (
          <li key={`${change.server}/${change.tool}/${change.changed.hash}`}>
            <ToolChangeCard change={change} onAccepted={accepted} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function ToolChangeCard({ change, onAccepted }: { change: ConsoleToolChangeFragment; onAccepted: (message: string) => void }) {
  const [result, accept] = useMutation(ConsoleAcceptToolChangeDocument);
  const id = `tool-change-${change.server}-${change.tool}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const onAccept = async () => {
    const answer = await accept({ server: change.server, tool: change.tool, hash: change.changed.hash });
    if (answer.data) onAccepted(`Accepted the new definition of ${change.tool} on ${change.server}: clients see it again.`);
  };
  return (
    <article class="card panel-warning" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>
        {change.tool} on {change.server} changed
      </h3>
      <div class="overview">
        <Definition title="Pinned (what clients were shown)" version={change.pinned} labelId={`${id}-pinned`} />
        <Definition title="New (hidden until accepted)" version={change.changed} labelId={`${id}-changed`} />
      </div>
      <FormErrors messages={sortErrors(result.error, []).form} />
      <div class="actions">
        <button type="button" class="button" disabled={result.fetching} onClick={() => void onAccept()}>
          Accept the new definition<span class="visually-hidden"> of {change.tool} on {change.server}</span>
        </button>
      </div>
    </article>
  );
}

function Definition({ title, version, labelId }: { title: string; version: ConsoleToolDefinitionFragment; labelId: string }) {
  const text = version.definition === null ? version.definitionText : JSON.stringify(version.definition, null, 2);
  return (
    <div>
      <h4 id={labelId}>{title}</h4>
      <p class="muted">
        Seen <Time iso={version.seenAt} />; SHA-256 <code class="hash">{version.hash}</code>
        {version.truncated ? ' (too long to keep whole: cut)' : ''}
      </p>
      <pre class="json" tabIndex={0} aria-labelledby={labelId}>
        {text}
      </pre>
    </div>
  );
}
