import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessRequestFieldsFragment, ExplainAccessQuery, GrantFieldsFragment } from '../../clients/graphql/generated/graphql.js';
import { brokerConfig } from '../support/broker-fixture.js';
import { cliEnvFor, runCli, runCliJson } from '../support/cli.js';
import { describeOnEachStore } from '../support/each-store.js';
import { createTestIdp } from '../support/test-idp.js';
import type { TestServer } from '../support/test-server.js';

const person = (name: string, groups: string[]) => ({ nameId: `${name}@example.com`, attributes: { email: `${name}@example.com`, groups } });

/** `echo` alone is granted at once, with a short message; anything else is reviewed, resources and prompts included. */
const ROLES = [
  {
    name: 'engineer',
    members: { groups: ['engineering'] },
    request: [
      { server: 'everything', tools: ['echo'], arguments: { echo: { type: 'object', properties: { message: { type: 'string', maxLength: 20 } } } }, maxDurationSeconds: 3600, autoApprove: true },
      {
        server: 'everything',
        tools: ['*'],
        denyTools: ['*elicitation*'],
        resources: ['demo://resource/*'],
        denyResources: ['demo://resource/dynamic/*'],
        prompts: ['*'],
        denyPrompts: ['resource-prompt'],
        maxDurationSeconds: 7200,
      },
    ],
  },
  { name: 'lead', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'], resources: ['demo://*'], prompts: ['*'] }] },
  { name: 'auditor', members: { groups: ['security'] }, audit: true },
];

/** What `--json` prints: the API's own shapes. */
type RequestJson = AccessRequestFieldsFragment;
type GrantJson = GrantFieldsFragment;
type ExplanationJson = ExplainAccessQuery['explainAccess'];

const GET_SUM_AT_MOST_10 = { 'get-sum': { type: 'object', properties: { a: { type: 'number', maximum: 10 } } } };

describeOnEachStore('the policy commands', (start) => {
  let server: TestServer;
  let alice: NodeJS.ProcessEnv;
  let bob: NodeJS.ProcessEnv;
  let carol: NodeJS.ProcessEnv;
  /** Frank's grants are made by the explain tests alone, so what they explain is known. */
  let frank: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const idp = await createTestIdp('corp');
    const config = brokerConfig(idp, { roles: ROLES });
    // The operator vouches for one tool the server does not mark read-only; the rest come from its annotations.
    config.servers[0] = { ...config.servers[0]!, readOnlyTools: ['toggle-subscriber-updates'], allowMethods: ['demo/stats'] };
    server = await start(config);
    [alice, bob, carol, frank] = await Promise.all([
      cliEnvFor(server.url, idp, person('alice', ['engineering'])),
      cliEnvFor(server.url, idp, person('bob', ['sre'])),
      cliEnvFor(server.url, idp, person('carol', ['security'])),
      cliEnvFor(server.url, idp, person('frank', ['engineering'])),
    ]);
  });
  afterAll(() => server.close());

  const pending = async (args: string[], env: NodeJS.ProcessEnv) => {
    const created = await runCliJson<RequestJson>(['request', 'everything', ...args, '--reason', 'policy test', '--for', '1h'], env);
    expect(created.status).toBe('PENDING');
    return created;
  };
  const requestSeenBy = async (env: NodeJS.ProcessEnv, id: string) => (await runCliJson<RequestJson[]>(['requests', '--limit', '500'], env)).find((r) => r.id === id);

  describe('servers', () => {
    it('shows the resources and prompts each person may request, and the methods the operator allows', async () => {
      const table = await runCli(['servers'], alice);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+TRANSPORT\s+REQUESTABLE\s+REVIEWABLE\s+ALLOWED-METHODS\s+DESCRIPTION$/);
      expect(table.stdout).toMatch(/^everything\s+stdio\s+tools: echo,\*; resources: demo:\/\/resource\/\*; prompts: \*\s+-\s+demo\/stats\s+-$/m);
      expect(await runCliJson(['servers'], bob)).toEqual([
        expect.objectContaining({ requestableResources: [], reviewableTools: ['*'], reviewableResources: ['demo://*'], reviewablePrompts: ['*'], allowedMethods: ['demo/stats'] }),
      ]);
    });
  });

  describe('request', () => {
    it('sends --resources, --prompts and --read-only, and shows what the request asks for', async () => {
      const created = await pending(['--tools', 'echo,get-sum', '--resources', 'demo://resource/static/*', '--prompts', 'simple-prompt,args-prompt', '--read-only'], alice);
      expect(created).toMatchObject({
        rule: 'engineer/request/1',
        tools: ['echo', 'get-sum'],
        deniedTools: ['*elicitation*'],
        resources: ['demo://resource/static/*'],
        deniedResources: ['demo://resource/dynamic/*'],
        prompts: ['simple-prompt', 'args-prompt'],
        deniedPrompts: ['resource-prompt'],
        readOnly: true,
      });

      const shown = await runCli(['request', 'everything', '--resources', 'demo://resource/static/*', '--read-only', '--reason', 'read docs', '--for', '1h'], alice);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/^Rule\s+engineer\/request\/1$/m);
      expect(shown.stdout).toMatch(/^Tools\s+\* except \*elicitation\*$/m);
      expect(shown.stdout).toMatch(/^Resources\s+demo:\/\/resource\/static\/\* except demo:\/\/resource\/dynamic\/\*$/m);
      expect(shown.stdout).toMatch(/^Prompts\s+\* except resource-prompt$/m);
      expect(shown.stdout).toMatch(/^Read-only\s+yes \(only tools read-only when granted\)$/m);

      const listed = await runCli(['requests', '--pending'], bob);
      expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+SERVER\s+TOOLS\s+RESOURCES\s+PROMPTS\s+ARGUMENTS\s+REQUESTER\s+FOR\s+CREATED\s+REASON$/);
      expect(listed.stdout).toMatch(new RegExp(`^${created.id}\\s+PENDING\\s+everything\\s+echo,get-sum except \\*elicitation\\* \\(read-only\\)\\s+demo://resource/static/\\* except demo://resource/dynamic/\\*\\s+simple-prompt,args-prompt except resource-prompt\\s+-\\s+alice@example\\.com`, 'm'));
    });

    it('shows the argument rules a request carries from its rule', async () => {
      const granted = await runCliJson<RequestJson>(['request', 'everything', '--tools', 'echo', '--reason', 'say hi', '--for', '30m'], alice);
      expect(granted).toMatchObject({ status: 'APPROVED', rule: 'engineer/request/0', argumentRules: { echo: [{ type: 'object', properties: { message: { type: 'string', maxLength: 20 } } }] } });
      const listed = await runCli(['requests', '--mine', '--limit', '1'], alice);
      expect(listed.stdout).toMatch(new RegExp(`^${granted.id}\\s+APPROVED\\s+everything\\s+echo\\s+-\\s+-\\s+echo\\s+alice@example\\.com`, 'm'));
    });
  });

  describe('approve --arguments', () => {
    it('narrows the arguments: the review and the grant carry the schema', async () => {
      const created = await pending(['--tools', 'get-sum'], alice);
      const approved = await runCliJson<RequestJson>(['approve', created.id, '--arguments', JSON.stringify(GET_SUM_AT_MOST_10)], bob);
      expect(approved.status).toBe('APPROVED');
      expect(approved.reviews).toEqual([expect.objectContaining({ decision: 'APPROVE', arguments: GET_SUM_AT_MOST_10 })]);
      expect(approved.grant!.argumentRules).toEqual({ 'get-sum': [GET_SUM_AT_MOST_10['get-sum']] });

      const grants = await runCliJson<GrantJson[]>(['grants'], alice);
      expect(grants.find((g) => g.id === approved.grant!.id)?.argumentRules).toEqual({ 'get-sum': [GET_SUM_AT_MOST_10['get-sum']] });
      const table = await runCli(['grants'], alice);
      expect(table.stdout).toMatch(new RegExp(`^${approved.grant!.id}\\s+everything\\s+get-sum except \\*elicitation\\*\\s+demo://resource/\\* except demo://resource/dynamic/\\*\\s+\\* except resource-prompt\\s+get-sum\\s+ACTIVE`, 'm'));
    });

    it('reads the schema from @file and shows the narrowing in the decision', async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'portcullis-args-')), 'get-sum.json');
      writeFileSync(file, JSON.stringify(GET_SUM_AT_MOST_10));
      const created = await pending(['--tools', 'get-sum'], alice);
      const approved = await runCli(['approve', created.id, '--reason', 'small sums', '--arguments', `@${file}`], bob);
      expect(approved.code).toBe(0);
      expect(approved.stdout).toMatch(/^Approved by\s+bob@example\.com: small sums \(narrowed the arguments of get-sum\)$/m);
      expect(approved.stdout).toMatch(/^Grant arguments\s+get-sum: \{"type":"object","properties":\{"a":\{"type":"number","maximum":10\}\}\}$/m);
    });

    it.each([
      ['malformed JSON', '{"get-sum": {', /error: option '--arguments <json>' argument .* is invalid\. not valid JSON: /],
      ['a JSON value that is not an object', '["get-sum"]', /is invalid\. expected a JSON object/],
      ['a tool whose rule is not a schema object', '{"get-sum": "a <= 10"}', /is invalid\. expected, per tool name, a JSON Schema object: "get-sum" is not one/],
      ['a file that cannot be read', '@/nonexistent/rules.json', /is invalid\. cannot read \/nonexistent\/rules\.json: ENOENT/],
      ['a schema the broker cannot compile', '{"get-sum": {"type": "integr"}}', /^portcullis: INVALID_INPUT: arguments\.get-sum: not a valid JSON Schema: [^\n]+\n$/],
    ])('refuses %s with a clear message, and the request stays pending and unreviewed', async (_, value, message) => {
      const created = await pending(['--tools', 'get-sum'], alice);
      const refused = await runCli(['approve', created.id, '--arguments', value], bob);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(message);
      expect(await requestSeenBy(bob, created.id)).toMatchObject({ status: 'PENDING', reviews: [], grant: null });
    });
  });

  describe('grants of read-only requests', () => {
    it('show the tools the grant covers after the read-only filter: annotated read-only, or listed by the operator', async () => {
      const created = await pending(['--tools', 'echo,get-sum,toggle-simulated-logging,toggle-subscriber-updates', '--read-only'], alice);
      const approved = await runCli(['approve', created.id], bob);
      expect(approved.code).toBe(0);
      expect(approved.stdout).toMatch(/^Grant tools\s+echo,get-sum,toggle-simulated-logging,toggle-subscriber-updates except \*elicitation\*$/m);
      expect(approved.stdout).toMatch(/^Covers \(read-only\)\s+echo,get-sum,toggle-subscriber-updates$/m);

      const grant = (await runCliJson<GrantJson[]>(['grants'], alice)).find((g) => g.readOnly && g.tools.includes('toggle-subscriber-updates'))!;
      expect(grant.coveredTools).toEqual(['echo', 'get-sum', 'toggle-subscriber-updates']);
      expect(grant.readOnlyTools).toEqual(expect.arrayContaining(['echo', 'get-env', 'get-sum', 'toggle-subscriber-updates']));
      expect(grant.readOnlyTools).not.toContain('toggle-simulated-logging');
      const table = await runCli(['grants'], alice);
      expect(table.stdout).toMatch(
        new RegExp(`^${grant.id}\\s+everything\\s+echo,get-sum,toggle-simulated-logging,toggle-subscriber-updates except \\*elicitation\\* \\(read-only: covers echo,get-sum,toggle-subscriber-updates\\)\\s`, 'm'),
      );
    });
  });

  describe('explain', () => {
    let grantId: string;
    beforeAll(async () => {
      const created = await pending(['--tools', 'get-sum'], frank);
      grantId = (await runCliJson<RequestJson>(['approve', created.id, '--arguments', JSON.stringify(GET_SUM_AT_MOST_10)], bob)).grant!.id;
    });

    it('exits 0 and names the grant, rule and pattern when the call is allowed', async () => {
      const allowed = await runCli(['explain', 'everything', 'tools/call', 'get-sum', '--arguments', '{"a": 5, "b": 1}'], frank);
      expect(allowed.code).toBe(0);
      expect(allowed.stderr).toBe('');
      expect(allowed.stdout).toMatch(/^Decision\s+ALLOWED$/m);
      expect(allowed.stdout).toMatch(new RegExp(`^Grant\\s+${grantId}$`, 'm'));
      expect(allowed.stdout).toMatch(/^Rule\s+engineer\/request\/1$/m);
      expect(allowed.stdout).toMatch(/^Pattern\s+get-sum$/m);
      expect(allowed.stdout).toMatch(new RegExp(`^Summary\\s+Allowed by grant ${grantId} \\(rule engineer/request/1, pattern get-sum\\)\\.$`, 'm'));
      expect(allowed.stdout).not.toMatch(/^Requestable under/m);
    });

    it('exits 4 and names the argument that broke the approver\'s rule', async () => {
      const refused = await runCli(['explain', 'everything', 'tools/call', 'get-sum', '--arguments', '{"a": 50, "b": 1}'], frank);
      expect(refused.code).toBe(4);
      expect(refused.stdout).toMatch(/^Decision\s+REFUSED$/m);
      expect(refused.stdout).toMatch(/^Reason\s+argument_not_allowed$/m);
      expect(refused.stdout).toMatch(/^Clause\s+argument_rule$/m);
      expect(refused.stdout).toMatch(new RegExp(`^Grant\\s+${grantId}$`, 'm'));
      expect(refused.stdout).toMatch(/^Argument\s+\/a$/m);
      expect(refused.stdout).toMatch(/^Summary\s+Refused: .*does not allow argument \/a \(maximum\)/m);
    });

    it('exits 4 for a deny pattern, naming the pattern', async () => {
      const refused = await runCli(['explain', 'everything', 'resources/read', 'demo://resource/dynamic/text/1'], frank);
      expect(refused.code).toBe(4);
      expect(refused.stdout).toMatch(/^Clause\s+denied_by_pattern$/m);
      expect(refused.stdout).toMatch(/^Pattern\s+demo:\/\/resource\/dynamic\/\*$/m);
    });

    it('lists the rules a refused tool can be requested under, also as JSON (still exit 4)', async () => {
      const refused = await runCli(['explain', 'everything', 'tools/call', 'echo'], frank);
      expect(refused.code).toBe(4);
      expect(refused.stdout).toMatch(/^Clause\s+not_in_grant$/m);
      expect(refused.stdout).toMatch(/^Requestable under\s+engineer\/request\/0,engineer\/request\/1$/m);

      const json = await runCli(['explain', 'everything', 'tools/call', 'echo', '--json'], frank);
      expect(json.code).toBe(4);
      expect(JSON.parse(json.stdout)).toEqual<ExplanationJson>({
        allowed: false,
        reason: 'tool_not_granted',
        clause: 'not_in_grant',
        grantId,
        rule: 'engineer/request/1',
        pattern: null,
        argumentPath: null,
        summary: expect.stringMatching(/^Refused: grant \S+ \(rule engineer\/request\/1\) does not cover it\. It can be requested under engineer\/request\/0, engineer\/request\/1\.$/) as string,
        requestableUnder: ['engineer/request/0', 'engineer/request/1'],
      });
    });

    it('answers an auditor for another user, and refuses anyone else who asks for one (exit 1)', async () => {
      const forFrank = await runCliJson<ExplanationJson>(['explain', 'everything', 'tools/call', 'get-sum', '--arguments', '{"a": 5, "b": 1}', '--user', 'corp:frank@example.com'], carol);
      expect(forFrank).toMatchObject({ allowed: true, grantId });

      const notAuditor = await runCli(['explain', 'everything', 'tools/call', 'get-sum', '--user', 'corp:frank@example.com'], alice);
      expect(notAuditor.code).toBe(1);
      expect(notAuditor.stdout).toBe('');
      expect(notAuditor.stderr).toMatch(/^portcullis: NOT_FOUND: [^\n]+\n$/);
    });

    it('refuses malformed --arguments before asking the broker', async () => {
      const refused = await runCli(['explain', 'everything', 'tools/call', 'get-sum', '--arguments', '{a: 5}'], frank);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/error: option '--arguments <json>' argument '\{a: 5\}' is invalid\. not valid JSON: /);
    });
  });
});
