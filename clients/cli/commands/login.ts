import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { MeDocument, RevokeApiTokenDocument } from '../../graphql/generated/graphql.js';
import { BrokerApi } from '../broker-api.js';
import { CliError } from '../cli-error.js';
import { checkBrokerUrl, credentialsPath, deleteCredentials, readStoredCredentials, readStoredLogin, saveCredentials } from '../credentials.js';
import type { StoredCredentials } from '../credentials.js';
import { EXIT } from '../exit-codes.js';
import { loopbackLogin } from '../loopback-login.js';
import type { OneUseLink } from '../loopback-login.js';
import { errorLine, fields, list, when } from '../output.js';
import { apiFor, clientCommand, durationOption, emit } from './client-command.js';
import type { ClientOptions } from './client-command.js';

export function loginCommand(): Command {
  return clientCommand('login', 'Sign in through your identity provider in a browser; stores an api,mcp token for this user only (0600).')
    .option('--idp <id>', 'identity provider to sign in with (needed when the broker has several)')
    .option('--no-browser', 'do not open a browser: print the URL to open')
    .addOption(new Option('--timeout <duration>', 'give up when the browser has not come back after this long').argParser(durationOption).default(300, '5m'))
    .action(async (options: ClientOptions & { idp?: string; browser: boolean; timeout: number }) => {
      const previous = replaceable();
      // Only a login file that is this user's alone says which broker to use: another user may have written one that is not.
      const given = options.broker ?? process.env.PORTCULLIS_BROKER ?? (previous?.private ? previous.stored.broker : undefined);
      if (!given) throw new CliError('NO_BROKER', 'which broker? give --broker URL (or set PORTCULLIS_BROKER)');
      const broker = checkBrokerUrl(given);
      const login = await loopbackLogin({
        broker,
        idp: options.idp,
        timeoutMs: options.timeout * 1000,
        tokenName: `portcullis CLI on ${hostname()}`.slice(0, 100),
        present: (url, confirmation, link) => present(url, confirmation, options.browser && browserAvailable() ? link : null),
      });
      const fresh: StoredCredentials = { broker, token: login.token, tokenId: login.tokenId, email: login.user.email, expiresAt: login.expiresAt };
      let path: string;
      try {
        path = saveCredentials(fresh);
      } catch (error) {
        // A token nobody holds must not stay valid.
        await revoke(fresh);
        throw error;
      }
      // The new token replaces the old: revoke it (best effort) rather than leave it valid. At the broker the file names
      // only when the file is this user's alone; else only at the broker named now (another user could have written
      // theirs into it, to be sent the token).
      const old = previous && (previous.private || previous.stored.broker === broker) ? previous.stored : null;
      if (old && !(old.broker === broker && old.tokenId === login.tokenId)) await revoke(old);
      emit(options, { broker, email: login.user.email, idp: login.user.idp, tokenId: login.tokenId, expiresAt: login.expiresAt, credentials: path }, () =>
        `Signed in to ${broker} as ${login.user.email}; the token expires ${when(login.expiresAt)}.`,
      );
    });
}

export function logoutCommand(): Command {
  return new Command('logout')
    .description('Revoke the stored token at the broker and delete it from this computer.')
    .action(async () => {
      const stored = readStoredCredentials();
      if (!stored) return void console.log('Not signed in.');
      const revoked = await revoke(stored);
      deleteCredentials();
      if (revoked === true || revoked.code === 'UNAUTHENTICATED') return void console.log(`Signed out of ${stored.broker}.`);
      // The secret is gone from disk either way; say plainly that it is still valid at the broker.
      errorLine(`portcullis: ${revoked.code}: deleted ${credentialsPath()}, but the broker did not revoke token ${stored.tokenId} (${revoked.message}); it stays valid until ${stored.expiresAt}: revoke it with \`portcullis token revoke ${stored.tokenId}\` from another login`);
      process.exit(EXIT.failure);
    });
}

export function whoamiCommand(): Command {
  return clientCommand('whoami', 'Show who the broker takes you for.').action(async (options: ClientOptions) => {
    const api = apiFor(options);
    const { me } = await api.request(MeDocument, {});
    const stored = process.env.PORTCULLIS_TOKEN ? null : readStoredCredentials();
    emit(options, { broker: api.broker, ...me, tokenExpiresAt: stored?.expiresAt ?? null }, () =>
      fields([
        ['User', me.displayName ? `${me.email} (${me.displayName})` : me.email],
        ['IdP', me.idp],
        ['Groups', list(me.groups)],
        ['Roles', list(me.roles)],
        ['Broker', api.broker],
        ['Token', stored ? `expires ${when(stored.expiresAt)}` : 'from PORTCULLIS_TOKEN'],
      ]),
    );
  });
}

/**
 * The login being replaced, if it can be read, so that its token is revoked: above all one
 * others could read, whose token they may hold. One that is not a login, or names no broker
 * a token may be sent to, is simply overwritten.
 */
function replaceable(): { stored: StoredCredentials; private: boolean } | null {
  try {
    const login = readStoredLogin();
    return login && { stored: { ...login.stored, broker: checkBrokerUrl(login.stored.broker) }, private: login.private };
  } catch (error) {
    if (error instanceof CliError) return null;
    throw error;
  }
}

/**
 * Whether a browser may be there to open: on Linux, only with a display or a $BROWSER (the
 * one xdg-open runs). Without one (a shared SSH host), the link would reach no browser, only
 * the command line of a program that fails, where others can read it.
 */
function browserAvailable(): boolean {
  const { DISPLAY, WAYLAND_DISPLAY, BROWSER, WSL_DISTRO_NAME, SSH_CONNECTION } = process.env;
  // Under WSL (not over SSH, where `open` falls back to xdg-open), `open` starts the Windows browser, whose command line Linux users do not see.
  return process.platform !== 'linux' || Boolean(DISPLAY || WAYLAND_DISPLAY || BROWSER || (WSL_DISTRO_NAME && !SSH_CONNECTION));
}

/** Prints the sign-in URL (for this terminal only) and opens the browser at the one-use link instead, which a command line may show to others. */
function present(url: string, confirmation: string, link: OneUseLink | null): void {
  const check = `The browser will ask you to confirm; allow it only if it shows the code ${confirmation}.`;
  if (link === null) return void console.error(`To sign in, open this URL in a browser on this computer:\n\n  ${url}\n\n${check}`);
  console.error(`Opening a browser to sign in. If none opens, visit this URL on this computer:\n\n  ${url}\n\n${check}`);
  // The URL is printed either way: a missing browser or display must not end the login.
  import('open')
    .then(({ default: open }) => open(link.url))
    .then((child) => {
      // On Windows and WSL `open` resolves once the launcher has ended; elsewhere while it runs.
      if (child.exitCode !== null || child.signalCode !== null) return void (child.exitCode !== 0 && link.notOpened());
      child.once('error', () => link.notOpened());
      child.once('exit', (code) => code !== 0 && link.notOpened());
      child.unref();
    })
    .catch(() => link.notOpened());
}

async function revoke(stored: StoredCredentials): Promise<true | CliError> {
  try {
    await new BrokerApi(stored).request(RevokeApiTokenDocument, { id: stored.tokenId });
    return true;
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
}
