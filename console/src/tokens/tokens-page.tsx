import { useMutation, useQuery } from '@urql/preact';
import { useState } from 'preact/hooks';
import { ConsoleCreateTokenDocument, ConsoleRevokeTokenDocument, ConsoleTokensDocument } from '../gql/graphql';
import type { ConsoleTokenFragment } from '../gql/graphql';
import { formatSpan } from '../format/time-format';
import { sortErrors } from '../forms/field-errors';
import { focusFirstError } from '../forms/focus-error';
import { Page } from '../shell/page';
import { CopyButton } from '../ui/copy-button';
import { DataTable } from '../ui/data-table';
import { Field, describedBy } from '../ui/field';
import { Empty, FormErrors, LoadError, Loading, StatusMessage } from '../ui/messages';
import { Time } from '../ui/time';
import { ConnectedClients } from './connected-clients';
import { RevokeDialog } from './revoke-dialog';

const SCOPES = [
  { scope: 'api', description: 'this GraphQL API as you (scripts, the CLI)' },
  { scope: 'mcp', description: 'MCP connections through the broker' },
  { scope: 'audit:read', description: 'the audit log and its live feed (auditors)' },
];
const LIFETIMES = [86_400, 7 * 86_400, 30 * 86_400, 90 * 86_400, 365 * 86_400];
const TOKEN_FIELDS = ['name', 'scopes', 'ttlSeconds'];
const TOKEN_FIELD_IDS = { name: 'token-name', scopes: 'token-scope-api', ttlSeconds: 'token-lifetime' };
/**
 * urql's document cache refetches a query when a mutation returns a type the query's result
 * held; an empty list holds none, so the first token created would never show: name the type.
 */
const TOKENS_CONTEXT = { additionalTypenames: ['ApiToken'] };

/** `/tokens`: create (the secret shown once), list, revoke. */
export function TokensPage() {
  const [tokens] = useQuery({ query: ConsoleTokensDocument, context: TOKENS_CONTEXT });
  const [secret, setSecret] = useState<{ token: string; name: string } | null>(null);
  const [revoking, setRevoking] = useState<ConsoleTokenFragment | null>(null);
  const [message, setMessage] = useState('');
  return (
    <Page title="API tokens" intro="Tokens let scripts, SIEMs and MCP clients act as you, within the scopes you give them. Only a hash is stored: a token is shown once.">
      <StatusMessage message={message} />
      {secret ? <NewSecret secret={secret} onDone={() => setSecret(null)} /> : <CreateToken onCreated={setSecret} />}
      <section aria-labelledby="token-list-title">
        <h2 id="token-list-title">Your tokens</h2>
        {tokens.error ? (
          <LoadError error={tokens.error} what="your tokens" />
        ) : !tokens.data ? (
          <Loading what="your tokens" />
        ) : tokens.data.apiTokens.length === 0 ? (
          <Empty>You have no live token.</Empty>
        ) : (
          <DataTable caption="Your live API tokens" columns={['Name', 'Scopes', 'Created', 'Expires', { label: 'Actions', hidden: true }]}>
            {tokens.data.apiTokens.map((token) => (
              <tr key={token.id}>
                <th scope="row">{token.name}</th>
                <td>{token.scopes.join(', ')}</td>
                <td>
                  <Time iso={token.createdAt} />
                </td>
                <td>
                  <Time iso={token.expiresAt} />
                </td>
                <td>
                  <button type="button" class="button-danger" onClick={() => setRevoking(token)}>
                    Revoke<span class="visually-hidden"> token {token.name}</span>
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>
      <ConnectedClients onMessage={setMessage} />
      {revoking && (
        <RevokeToken
          token={revoking}
          onClose={(done) => {
            setRevoking(null);
            if (done) setMessage(done);
          }}
        />
      )}
    </Page>
  );
}

function CreateToken({ onCreated }: { onCreated: (secret: { token: string; name: string }) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [lifetime, setLifetime] = useState(30 * 86_400);
  const [local, setLocal] = useState<Record<string, string>>({});
  const [result, create] = useMutation(ConsoleCreateTokenDocument);
  const api = sortErrors(result.error, TOKEN_FIELDS);
  const errors = { ...api.fields, ...local };
  const submit = async (event: Event) => {
    event.preventDefault();
    const missing: Record<string, string> = {};
    if (!name.trim()) missing.name = 'Name it after what will use it.';
    if (scopes.length === 0) missing.scopes = 'Pick at least one scope.';
    setLocal(missing);
    if (Object.keys(missing).length > 0) {
      focusFirstError(missing, TOKEN_FIELD_IDS);
      return;
    }
    const answer = await create({ name: name.trim(), scopes, ttlSeconds: lifetime });
    focusFirstError(sortErrors(answer.error, TOKEN_FIELDS).fields, TOKEN_FIELD_IDS);
    const created = answer.data?.createApiToken;
    if (created) onCreated({ token: created.token, name: created.apiToken.name });
  };
  return (
    <section aria-labelledby="create-token-title" class="panel">
      <h2 id="create-token-title">Create a token</h2>
      <form class="form" onSubmit={submit} noValidate>
        <FormErrors messages={api.form} />
        <Field id="token-name" label="Name" hint="What will use it, for example “SIEM export”." error={errors.name}>
          <input id="token-name" type="text" aria-required="true" value={name} onInput={(e) => setName(e.currentTarget.value)} {...describedBy('token-name', { hint: true, error: errors.name })} />
        </Field>
        <fieldset class={errors.scopes ? 'field-invalid' : undefined} aria-describedby={errors.scopes ? 'token-scopes-error' : undefined}>
          <legend>Scopes</legend>
          <ul class="checklist">
            {SCOPES.map(({ scope, description }) => (
              <li key={scope}>
                <label>
                  <input
                    type="checkbox"
                    id={`token-scope-${scope.replace(':', '-')}`}
                    checked={scopes.includes(scope)}
                    onChange={(e) => {
                      const on = e.currentTarget.checked;
                      setScopes((current) => (on ? [...current, scope] : current.filter((s) => s !== scope)));
                    }}
                  />
                  <code>{scope}</code>: {description}
                </label>
              </li>
            ))}
          </ul>
          {errors.scopes && (
            <p class="field-error" id="token-scopes-error">
              {errors.scopes}
            </p>
          )}
        </fieldset>
        <Field id="token-lifetime" label="Lifetime" error={errors.ttlSeconds}>
          <select id="token-lifetime" value={String(lifetime)} onChange={(e) => setLifetime(Number(e.currentTarget.value))} {...describedBy('token-lifetime', { error: errors.ttlSeconds })}>
            {LIFETIMES.map((seconds) => (
              <option key={seconds} value={String(seconds)}>
                {formatSpan(seconds)}
              </option>
            ))}
          </select>
        </Field>
        <div class="actions">
          <button type="submit" disabled={result.fetching}>
            Create token
          </button>
        </div>
      </form>
    </section>
  );
}

function NewSecret({ secret, onDone }: { secret: { token: string; name: string }; onDone: () => void }) {
  return (
    <section aria-labelledby="new-token-title" class="panel panel-warning">
      <h2 id="new-token-title">Your new token “{secret.name}”</h2>
      <p role="alert">
        <strong>Copy it now: it is shown only this once.</strong> Portcullis keeps only a hash and cannot show it again. Treat it like a password.
      </p>
      <div class="field">
        <label for="new-token-secret">Token secret</label>
        <input id="new-token-secret" type="text" readOnly value={secret.token} class="secret" onFocus={(e) => e.currentTarget.select()} />
      </div>
      <div class="actions">
        <CopyButton text={secret.token} label="Copy token" />
        <button type="button" onClick={onDone}>
          I have stored it
        </button>
      </div>
    </section>
  );
}

function RevokeToken({ token, onClose }: { token: ConsoleTokenFragment; onClose: (message?: string) => void }) {
  const [result, revoke] = useMutation(ConsoleRevokeTokenDocument);
  return (
    <RevokeDialog
      title={`Revoke the token “${token.name}”`}
      consequence="Anything using it is refused from now on. This cannot be undone."
      confirm="Revoke token"
      keep="Keep it"
      fetching={result.fetching}
      error={result.error}
      onRevoke={async () => {
        const answer = await revoke({ id: token.id });
        if (answer.data) onClose(`The token “${token.name}” was revoked.`);
      }}
      onClose={() => onClose()}
    />
  );
}
