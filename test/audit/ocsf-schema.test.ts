import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exampleEvents } from '../../clients/audit/ocsf-examples.js';
import { OCSF_EMAIL, OCSF_VERSION, toOcsf } from '../../clients/audit/ocsf.js';
import type { WireAuditEvent } from '../../clients/audit/ocsf.js';
import { loadVendoredOcsfSchema, validateOcsf } from '../../clients/audit/ocsf-validate.js';
import type { CompiledOcsfSchema } from '../../clients/audit/ocsf-validate.js';
import { AUDIT_EVENT_TYPES } from '../../server/audit/event-types.js';

const schema = loadVendoredOcsfSchema();
const examples = exampleEvents();
const example = (type: string): WireAuditEvent => examples.find((e) => e.type === type)!;
const ocsf = (event: WireAuditEvent) => toOcsf(event) as Record<string, Record<string, unknown>>;
const paths = (event: Record<string, unknown>, against: CompiledOcsfSchema = schema) => validateOcsf(against, event).map((v) => `${v.path}: ${v.message}`);

describe('the vendored OCSF schema', () => {
  it('is the official schema at the version our events declare, from its release tag, with its licence beside it', () => {
    expect(schema.version).toBe(OCSF_VERSION);
    expect(schema.source).toEqual({ repository: 'https://github.com/ocsf/ocsf-schema', tag: `v${OCSF_VERSION}`, commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect(readFileSync('vendor/ocsf-schema/LICENSE', 'utf8')).toContain('Apache License');
    expect(existsSync('vendor/ocsf-schema/NOTICE')).toBe(true);
    expect(Object.values(schema.classes).map((c) => c.uid).sort()).toEqual([2004, 3002, 3005, 6003]);
  });

  it('holds the email pattern the mapping uses to decide on email_addr', () => {
    expect(OCSF_EMAIL.source).toBe(schema.types.email_t!.regex);
  });
});

describe('every audit event type as schema-valid OCSF', () => {
  it('has an example of every audit event type', () => {
    expect(examples.map((e) => e.type)).toEqual([...AUDIT_EVENT_TYPES]);
  });

  it.each(examples.map((e) => [e.type, e] as const))('%s is valid against its class', (_type, event) => {
    expect(paths(toOcsf(event))).toEqual([]);
  });

  it('keeps our event id in metadata.uid and declares the version in metadata.version', () => {
    for (const event of examples) expect(ocsf(event).metadata).toMatchObject({ uid: event.id, version: '1.1.0' });
  });

  it('puts the client address in src_endpoint of every event that recorded one', () => {
    const recorded = examples.filter((e) => typeof e.data.clientAddress === 'string');
    expect(recorded.map((e) => e.type)).toEqual(['mcp.session.start', 'mcp.session.refused']);
    for (const event of recorded) expect(ocsf(event).src_endpoint).toEqual({ ip: event.data.clientAddress });
    const mapped = { ...example('mcp.session.start'), data: { ...example('mcp.session.start').data, clientAddress: '::ffff:192.0.2.7' } };
    expect(ocsf(mapped).src_endpoint).toEqual({ ip: '::ffff:192.0.2.7' });
    expect(paths(toOcsf(mapped))).toEqual([]);
  });

  it('makes Portcullis the actor (and source) of what it does on its own, and an IdP\'s SCIM client of what that client did', () => {
    for (const type of ['access_request.expired', 'auth.idp.keys_rotated', 'audit.checkpoint']) {
      expect(ocsf(example(type)).actor).toEqual({ invoked_by: 'Portcullis' });
      expect(ocsf(example(type)).src_endpoint).toEqual({ svc_name: 'Portcullis' });
    }
    expect(ocsf(example('grant.expired')).actor).toEqual({ invoked_by: 'Portcullis' });
    expect(ocsf(example('scim.user.created')).actor).toEqual({ invoked_by: 'SCIM client of okta' });
  });

  it('puts the MCP session under the actor, not at the top level', () => {
    const request = ocsf(example('mcp.request'));
    expect(request.session).toBeUndefined();
    expect(request.actor).toEqual({ user: { name: 'alice@example.com', email_addr: 'alice@example.com' }, session: { uid: 's-91d2…' } });
  });

  it('writes status as the caption of status_id, our outcome as status_code, and names activity 99', () => {
    expect(ocsf(example('mcp.request'))).toMatchObject({ status_id: 2, status: 'Failure', status_code: 'DENIED', status_detail: 'tool_not_granted', activity_id: 99, activity_name: 'mcp.request', type_uid: 600399, type_name: 'API Activity: Other' });
    expect(ocsf(example('grant.revoked'))).toMatchObject({ status_id: 1, status: 'Success', status_code: 'SUCCESS' });
  });

  it('maps grants to User Access Management: Assign and Revoke Privileges of the grantee', () => {
    expect(ocsf(example('grant.issued'))).toMatchObject({ class_uid: 3005, activity_id: 1, type_uid: 300501, user: { name: 'alice@example.com' }, actor: { user: { name: 'bob@example.com' } }, privileges: ['grant:7f0e…', 'tool:read_file'], resource: { type: 'mcp_server', name: 'everything' }, metadata: { profiles: ['host'] } });
    expect(ocsf(example('grant.revoked'))).toMatchObject({ class_uid: 3005, activity_id: 2, privileges: ['grant:7f0e…'] });
    expect(ocsf(example('grant.expired'))).toMatchObject({ class_uid: 3005, activity_id: 2, actor: { invoked_by: 'Portcullis' } });
  });

  it('gives a refused sign-in (no identity) and a refused sign-out a user and the service, and names the protocol when the event does', () => {
    const refused: WireAuditEvent = { ...example('auth.login'), outcome: 'DENIED', actor: null, data: { idp: 'corp', reason: 'signature_invalid' } };
    expect(ocsf(refused)).toMatchObject({ class_uid: 3002, status: 'Failure', status_detail: 'signature_invalid', user: { name: 'unknown', domain: 'corp' }, service: { name: 'Portcullis' } });
    expect(ocsf(refused).auth_protocol_id).toBeUndefined();
    const refusedLogout: WireAuditEvent = { ...example('auth.logout'), outcome: 'DENIED', actor: null, data: { idp: 'corp', reason: 'signature_invalid' } };
    const oidc: WireAuditEvent = { ...example('auth.login'), data: { idp: 'google', sub: '1090', groups: [], protocol: 'oidc' } };
    expect(ocsf(oidc)).toMatchObject({ auth_protocol_id: 4, auth_protocol: 'OpenID', user: { name: 'alice@example.com', domain: 'google' } });
    expect(ocsf(example('auth.login'))).toMatchObject({ auth_protocol_id: 5, auth_protocol: 'SAML' });
    for (const event of [refused, refusedLogout, oidc]) expect(paths(toOcsf(event))).toEqual([]);
  });

  it('stays valid for an address OCSF\'s email type does not accept (user.name only) and for an event type it does not know', () => {
    const odd: WireAuditEvent = { ...example('grant.issued'), actor: "o'brien@example.com" };
    expect(ocsf(odd).actor).toEqual({ user: { name: "o'brien@example.com" } });
    const unknown: WireAuditEvent = { ...example('mcp.request'), type: 'test.event' };
    expect(ocsf(unknown)).toMatchObject({ class_uid: 6003, activity_id: 99, activity_name: 'test.event' });
    const inherited: WireAuditEvent = { ...example('mcp.request'), type: 'constructor' };
    expect(ocsf(inherited)).toMatchObject({ class_uid: 6003, activity_id: 99, activity_name: 'constructor' });
    for (const event of [odd, unknown, inherited]) expect(paths(toOcsf(event))).toEqual([]);
  });
});

describe('the OCSF validator', () => {
  const api = () => structuredClone(toOcsf(example('mcp.request'))) as Record<string, Record<string, unknown>>;

  it('catches a missing required attribute, at the top and inside an object', () => {
    const event = api();
    delete event.src_endpoint;
    delete event.metadata!.product;
    expect(paths(event)).toEqual(['src_endpoint: required attribute missing', 'metadata.product: required attribute missing']);
  });

  it('catches an attribute the class or object does not define, and a profile attribute without its profile', () => {
    const event = api();
    event.session = { uid: 's-1' };
    event.actor = { app_name: 'portcullis' };
    (event.resources as unknown as Record<string, unknown>[])[1]!.arguments = {};
    expect(paths(event)).toEqual(['actor: at_least_one of process, user, invoked_by, session is required', 'actor.app_name: not an attribute of Actor', 'resources[1].arguments: not an attribute of Resource Details', 'session: not an attribute of API Activity']);
    const grant = structuredClone(toOcsf(example('grant.issued'))) as Record<string, Record<string, unknown>>;
    delete grant.metadata!.profiles;
    expect(paths(grant)).toEqual(['actor: defined only in profile host, which metadata.profiles does not declare']);
  });

  it('catches a value outside an enum, a caption that is not its id\'s, and activity 99 without its name', () => {
    const event = api();
    event.status_id = 5 as never;
    event.severity = 'Low' as never;
    delete event.activity_name;
    expect(paths(event)).toEqual([
      'activity_name: activity_id is 99 (Other): activity_name must say what it is',
      'severity: must be "Medium", the caption of severity_id 3',
      'status_id: 5 is not one of 0 (Unknown), 1 (Success), 2 (Failure), 99 (Other)',
    ]);
    const create = structuredClone(toOcsf(example('grant.issued'))) as Record<string, unknown>;
    create.activity_id = 3;
    create.type_uid = 300503;
    expect(paths(create)).toEqual(['activity_id: 3 is not one of 0 (Unknown), 1 (Assign Privileges), 2 (Revoke Privileges), 99 (Other)', 'type_uid: 300503 is not one of 300500 (User Access Management: Unknown), 300501 (User Access Management: Assign Privileges), 300502 (User Access Management: Revoke Privileges), 300599 (User Access Management: Other)']);
  });

  it('catches a broken at_least_one or just_one constraint', () => {
    const login = structuredClone(toOcsf(example('auth.login'))) as Record<string, unknown>;
    delete login.service;
    expect(paths(login)).toEqual(['(event): at_least_one of service, dst_endpoint is required']);
    const justOne = structuredClone(schema);
    justOne.classes.authentication!.constraints = { just_one: ['service', 'dst_endpoint'] };
    const both = { ...(toOcsf(example('auth.login')) as Record<string, unknown>), dst_endpoint: { svc_name: 'portcullis' } };
    expect(paths(both, justOne)).toEqual(['(event): just_one of service, dst_endpoint is allowed']);
  });

  it('catches values of the wrong data type: a timestamp as text, an address that is not one, a port out of range, type_uid off its class and activity', () => {
    const event = api();
    event.time = '2026-11-24T10:00:00.000Z' as never;
    event.src_endpoint = { ip: 'alice-laptop', port: 70000 };
    event.type_uid = 600301 as never;
    event.metadata!.version = '1.3.0';
    expect(paths(event).sort()).toEqual([
      'metadata.version: "1.3.0" is not the schema\'s version 1.1.0',
      'src_endpoint.ip: ip_t: "alice-laptop" does not match the type\'s pattern',
      'src_endpoint.port: port_t: must be within 0..65535',
      'time: timestamp_t: must be an integer within ±9007199254740992',
      'type_name: must be "API Activity: Create", the caption of type_uid 600301',
      'type_uid: must be class_uid * 100 + activity_id = 600399',
    ]);
  });
});
