import { afterAll, beforeAll, expect, it } from 'vitest';
import { brokerConfig } from '../support/broker-fixture.js';
import { cliEnvFor, finished, runCli, runCliJson, spawnCli, waitForStderr } from '../support/cli.js';
import { describeOnEachStore } from '../support/each-store.js';
import { createTestIdp } from '../support/test-idp.js';
import { postGraphQL } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const ALICE = { nameId: 'alice@example.com', attributes: { email: 'alice@example.com', groups: ['engineering'] } };
const BOB = { nameId: 'bob@example.com', attributes: { email: 'bob@example.com', groups: ['sre'] } };

interface RequestJson {
  id: string;
  status: string;
  durationSeconds: number;
  reviews: { decision: string; reason: string | null; reviewer: { email: string } }[];
  grant: { id: string; status: string; issuedAt: string; expiresAt: string; tools: string[] } | null;
}

describeOnEachStore('the access commands', (start) => {
  let server: TestServer;
  /** Environments that make the CLI act as each user (token and broker, no login file). */
  let alice: NodeJS.ProcessEnv;
  let bob: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const idp = await createTestIdp('corp');
    server = await start(
      brokerConfig(idp, {
        roles: [
          { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['*'], maxDurationSeconds: 7200 }] },
          { name: 'lead', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'] }] },
        ],
      }),
    );
    alice = await cliEnvFor(server.url, idp, ALICE);
    bob = await cliEnvFor(server.url, idp, BOB);
  });
  afterAll(() => server.close());

  it('lists servers with what the caller may request and review, as a table or JSON', async () => {
    const table = await runCli(['servers'], alice);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+TRANSPORT\s+REQUESTABLE\s+REVIEWABLE\s+ALLOWED-METHODS\s+DESCRIPTION$/);
    expect(table.stdout).toMatch(/^everything\s+stdio\s+tools: \*\s+-/m);
    expect(await runCliJson(['servers'], bob)).toEqual([expect.objectContaining({ name: 'everything', requestableTools: [], reviewableTools: ['*'] })]);
  });

  it('request --wait blocks until a reviewer approves, then prints the grant (with the shorter duration)', async () => {
    // --recheck 1h: only the accessRequestChanged subscription can end this wait in time.
    const child = spawnCli(['request', 'everything', '--tools', 'echo,get-sum', '--reason', 'incident 42', '--for', '2h', '--wait', '--recheck', '1h'], alice);
    const done = finished(child);
    const [, id] = await waitForStderr(child, /Request (\S+) is pending review/);

    const pending = await runCli(['requests', '--pending'], bob);
    expect(pending.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+SERVER\s+TOOLS\s+RESOURCES\s+PROMPTS\s+ARGUMENTS\s+REQUESTER\s+FOR\s+CREATED\s+REASON$/);
    expect(pending.stdout).toMatch(new RegExp(`^${id}\\s+PENDING\\s+everything\\s+echo,get-sum\\s+-\\s+-\\s+-\\s+alice@example\\.com\\s+2h\\s+.*incident 42$`, 'm'));

    const approved = await runCli(['approve', id!, '--for', '30m', '--reason', 'go ahead'], bob);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(/^Status\s+APPROVED$/m);

    const waited = await done;
    expect(waited.code).toBe(0);
    expect(waited.stdout).toMatch(/^Status\s+APPROVED$/m);
    expect(waited.stdout).toMatch(/^Approved by\s+bob@example\.com: go ahead$/m);
    expect(waited.stdout).toMatch(/^Grant\s+\S+$/m);
    const [request] = await runCliJson<RequestJson[]>(['requests', '--mine', '--limit', '1'], alice);
    expect(request!.id).toBe(id);
    expect(Date.parse(request!.grant!.expiresAt) - Date.parse(request!.grant!.issuedAt)).toBe(30 * 60_000);
  });

  it('request --wait prints the denial reason and exits 3', async () => {
    const child = spawnCli(['request', 'everything', '--reason', 'curious', '--for', '1h', '--wait', '--recheck', '1h'], alice);
    const done = finished(child);
    const [, id] = await waitForStderr(child, /Request (\S+) is pending review/);
    const denied = await runCli(['deny', id!, '--reason', 'not without a ticket'], bob);
    expect(denied.code).toBe(0);
    const waited = await done;
    expect(waited.code).toBe(3);
    expect(waited.stdout).toMatch(/^Status\s+DENIED$/m);
    expect(waited.stdout).toMatch(/^Denied by\s+bob@example\.com: not without a ticket$/m);
  });

  it('follows pages up to --limit and says when there are more', async () => {
    for (let i = 0; i < 3; i++) await runCli(['request', 'everything', '--reason', `page ${i}`, '--for', '1h'], alice);
    const limited = await runCli(['requests', '--mine', '--limit', '2', '--json'], alice);
    expect(JSON.parse(limited.stdout)).toHaveLength(2);
    expect(limited.stderr).toBe('(the newest 2 shown; there are more: raise --limit)\n');
    const all = await runCliJson<unknown[]>(['requests', '--mine', '--limit', '500'], alice);
    expect(all.length).toBeGreaterThanOrEqual(5);
  });

  it('cancels a pending request; a second cancel is refused in one line', async () => {
    const created = await runCliJson<RequestJson>(['request', 'everything', '--reason', 'later', '--for', '90m'], alice);
    expect(created).toMatchObject({ status: 'PENDING', durationSeconds: 5400 });
    expect(await runCliJson<RequestJson>(['cancel', created.id], alice)).toMatchObject({ id: created.id, status: 'CANCELLED' });
    const again = await runCli(['cancel', created.id], alice);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^portcullis: REQUEST_NOT_PENDING: [^\n]+\n$/);
  });

  it('lists grants and revokes one: it leaves the active list', async () => {
    const created = await runCliJson<RequestJson>(['request', 'everything', '--tools', 'echo', '--reason', 'debug', '--for', '1h'], alice);
    const approved = await runCliJson<RequestJson>(['approve', created.id], bob);
    const grantId = approved.grant!.id;
    const table = await runCli(['grants'], alice);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+SERVER\s+TOOLS\s+RESOURCES\s+PROMPTS\s+ARGUMENTS\s+STATUS\s+USER\s+EXPIRES$/);
    expect(table.stdout).toMatch(new RegExp(`^${grantId}\\s+everything\\s+echo\\s+-\\s+-\\s+-\\s+ACTIVE\\s+alice@example\\.com\\s+\\S+ \\S+ UTC \\(in (59m|1h)\\)$`, 'm'));

    const revoked = await runCli(['revoke', grantId, '--reason', 'done'], alice);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe(`Revoked grant ${grantId} on everything (alice@example.com).\n`);
    const active = await runCliJson<{ id: string }[]>(['grants'], alice);
    expect(active.map((g) => g.id)).not.toContain(grantId);
    const all = await runCliJson<{ id: string; status: string; revokeReason: string }[]>(['grants', '--all'], alice);
    expect(all.find((g) => g.id === grantId)).toMatchObject({ status: 'REVOKED', revokeReason: 'done' });
  });

  it('creates a token with a scope and lifetime, shows it once, and lists it', async () => {
    const created = await runCli(['token', 'create', '--scope', 'api', '--ttl', '30m', '--name', 'siem'], alice);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^pcl_\S+\n$/);
    expect(created.stderr).toMatch(/It is shown once; store it now/);
    const token = created.stdout.trim();
    const me = await postGraphQL(server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${token}` });
    expect(me.body.data).toEqual({ me: { email: 'alice@example.com' } });
    const listed = await runCliJson<{ name: string; scopes: string[]; createdAt: string; expiresAt: string }[]>(['tokens'], alice);
    const siem = listed.find((t) => t.name === 'siem');
    expect(siem?.scopes).toEqual(['api']);
    // Within the 1 h of the token cliEnvFor minted, which a token it mints cannot outlive.
    expect(Date.parse(siem!.expiresAt) - Date.parse(siem!.createdAt)).toBe(1_800_000);
    // A token cannot mint a scope its own credential lacks (this one holds api only).
    const wider = await runCli(['token', 'create', '--scope', 'audit:read', '--ttl', '30d'], alice);
    expect(wider.code).toBe(1);
    expect(wider.stderr).toMatch(/^portcullis: FORBIDDEN: this credential cannot grant scope "audit:read" it does not hold\n$/);
  });

  it('reports API errors, bad durations and missing credentials as one line with a non-zero exit', async () => {
    const unknown = await runCli(['approve', 'ar_does_not_exist'], bob);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^portcullis: NOT_FOUND: [^\n]+\n$/);

    const self = await runCliJson<RequestJson>(['request', 'everything', '--reason', 'x', '--for', '1h'], alice);
    const selfReview = await runCli(['approve', self.id], alice);
    expect(selfReview.code).toBe(1);
    expect(selfReview.stderr).toMatch(/^portcullis: SELF_REVIEW: [^\n]+\n$/);

    const badDuration = await runCli(['request', 'everything', '--reason', 'x', '--for', '5x'], alice);
    expect(badDuration.code).toBe(1);
    expect(badDuration.stderr).toMatch(/"5x" is not a duration: use a number and a unit, like 90m, 2h, 1d or 1h30m/);

    const tooLong = await runCli(['request', 'everything', '--reason', 'x', '--for', '1d'], alice);
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/^portcullis: DURATION_TOO_LONG: [^\n]+\n$/);

    const anonymous = await runCli(['requests'], { PORTCULLIS_BROKER: server.url, XDG_CONFIG_HOME: '/nonexistent' });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toBe('portcullis: NOT_SIGNED_IN: not signed in: run `portcullis login --broker URL` (or set PORTCULLIS_TOKEN)\n');

    const unreachable = await runCli(['servers'], { ...alice, PORTCULLIS_BROKER: 'http://127.0.0.1:9' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^portcullis: BROKER_UNREACHABLE: cannot reach the broker at http:\/\/127\.0\.0\.1:9: [^\n]+\n$/);
  });

  it('prints JSON with the C1 controls and DEL a requester put in a reason escaped: a terminal reads no CSI from a reviewer\'s --json', async () => {
    const reason = 'see \u009b2J\u009b31mlogs\u007f \u2028done';
    const filed = await runCliJson<RequestJson>(['request', 'everything', '--tools', 'echo', '--reason', reason, '--for', '1h'], alice);
    const listed = await runCli(['requests', '--pending', '--json'], bob);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toMatch(/[\u007f-\u009f\u2028]/);
    expect(listed.stdout).toContain('\\u009b2J');
    expect((JSON.parse(listed.stdout) as { id: string; reason: string }[]).find((r) => r.id === filed.id)?.reason).toBe(reason);
    await runCli(['cancel', filed.id], alice);
  });
});
