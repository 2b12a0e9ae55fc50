import { z } from 'zod';
import type { ScimEmail, ScimGroupRecord, ScimUserRecord } from '../stores/types.js';
import { ScimError } from './scim-error.js';

/** RFC 7643 §8.7 and RFC 7644 §3 schema URIs. */
export const SCHEMA = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  list: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patch: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
} as const;

const MAX_TEXT = 256;
const MAX_EMAILS = 20;
export const MAX_MEMBERS = 10_000;

const text = (max = MAX_TEXT) => z.string().trim().min(1).max(max);

/**
 * A boolean as IdPs send one: JSON true/false, or (Entra ID before its 2020 fixes, still
 * seen) the strings "True"/"False" in any case.
 */
export const scimBoolean = z.union([z.boolean(), z.string().regex(/^(true|false)$/i).transform((v) => v.toLowerCase() === 'true')]);

const email = z.object({
  value: text(320),
  type: z.string().max(64).nullish(),
  primary: scimBoolean.nullish(),
});

const member = z.object({ value: text(), display: z.string().max(MAX_TEXT).nullish() });
export const members = z.array(member).max(MAX_MEMBERS);

/**
 * The User attributes Portcullis keeps (RFC 7643 §4.1); zod drops every other attribute,
 * as RFC 7644 §3.3 asks of a service provider that does not keep them.
 */
export const userAttributes = z.object({
  userName: text(),
  externalId: z.string().max(MAX_TEXT).nullish(),
  active: scimBoolean.optional(),
  displayName: z.string().max(MAX_TEXT).nullish(),
  name: z.object({ formatted: z.string().max(MAX_TEXT).nullish(), givenName: z.string().max(MAX_TEXT).nullish(), familyName: z.string().max(MAX_TEXT).nullish() }).nullish(),
  emails: z.array(email).max(MAX_EMAILS).nullish(),
});
export type UserAttributes = z.infer<typeof userAttributes>;

export const groupAttributes = z.object({
  displayName: text(),
  externalId: z.string().max(MAX_TEXT).nullish(),
  members: members.nullish(),
});
export type GroupAttributes = z.infer<typeof groupAttributes>;

/** RFC 7644 §3.5.2; `op` in any case (Entra ID sends "Replace", "Add", "Remove"). */
export const patchRequest = z.object({
  Operations: z
    .array(
      z.object({
        op: z.string().regex(/^(add|replace|remove)$/i, 'expected add, replace or remove').transform((op) => op.toLowerCase() as 'add' | 'replace' | 'remove'),
        path: z.string().max(512).optional(),
        value: z.unknown().optional(),
      }),
    )
    .min(1)
    .max(1000),
});
export type PatchOperation = z.infer<typeof patchRequest>['Operations'][number];

/** Parses a body against a schema; a mismatch is a 400 invalidValue naming the first problem (never quoting the value). */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length > 0 ? issue.path.join('.') : 'body';
  throw ScimError.invalidValue(`${where}: ${issue.message}`);
}

/** What a user's displayName is when the IdP sent none: the name it sent. */
export function displayNameOf(attributes: Pick<UserAttributes, 'displayName' | 'name'>): string | null {
  const { displayName, name } = attributes;
  if (displayName) return displayName;
  if (name?.formatted) return name.formatted;
  const parts = [name?.givenName, name?.familyName].filter((p): p is string => Boolean(p));
  return parts.length > 0 ? parts.join(' ') : null;
}

export function emailsOf(attributes: Pick<UserAttributes, 'emails'>): ScimEmail[] {
  return (attributes.emails ?? []).map((e) => ({ value: e.value, type: e.type ?? null, primary: e.primary ?? false }));
}

const meta = (resourceType: 'User' | 'Group', record: { id: string; createdAt: number; updatedAt: number }, base: string) => ({
  resourceType,
  created: new Date(record.createdAt).toISOString(),
  lastModified: new Date(record.updatedAt).toISOString(),
  location: `${base}/${resourceType}s/${record.id}`,
});

export function renderUser(user: ScimUserRecord, base: string): Record<string, unknown> {
  return {
    schemas: [SCHEMA.user],
    id: user.id,
    ...(user.externalId === null ? {} : { externalId: user.externalId }),
    userName: user.userName,
    active: user.active,
    ...(user.displayName === null ? {} : { displayName: user.displayName }),
    emails: user.emails,
    meta: meta('User', user, base),
  };
}

export function renderGroup(group: ScimGroupRecord, base: string, withMembers: boolean): Record<string, unknown> {
  return {
    schemas: [SCHEMA.group],
    id: group.id,
    ...(group.externalId === null ? {} : { externalId: group.externalId }),
    displayName: group.displayName,
    ...(withMembers ? { members: group.members.map((value) => ({ value, $ref: `${base}/Users/${value}` })) } : {}),
    meta: meta('Group', group, base),
  };
}

/** RFC 7644 §3.4.2.4: a 1-based startIndex (below 1 counts as 1) and a count (negative counts as 0), bounded. */
export function pageOf(query: { startIndex?: unknown; count?: unknown }): { startIndex: number; count: number } {
  const int = (value: unknown, fallback: number) => {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !/^-?\d{1,9}$/.test(value)) throw ScimError.invalidValue('startIndex and count must be integers');
    return Number(value);
  };
  return { startIndex: Math.max(1, int(query.startIndex, 1)), count: Math.min(MAX_PAGE, Math.max(0, int(query.count, MAX_PAGE))) };
}

const MAX_PAGE = 200;

export function listResponse(resources: Record<string, unknown>[], total: number, startIndex: number): Record<string, unknown> {
  return { schemas: [SCHEMA.list], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources };
}

/**
 * The one filter form IdPs send (RFC 7644 §3.4.2.2): `<attribute> eq "<value>"`, the
 * attribute among those given (compared case-insensitively, as attribute names are).
 */
export function parseFilter<A extends string>(filter: unknown, attributes: readonly A[]): { attribute: A; value: string } | null {
  if (filter === undefined) return null;
  const match = typeof filter === 'string' ? /^\s*([A-Za-z][\w.]*)\s+eq\s+"((?:[^"\\]|\\.){0,512})"\s*$/i.exec(filter) : null;
  const attribute = match && attributes.find((a) => a.toLowerCase() === match[1]!.toLowerCase());
  if (!match || !attribute) throw new ScimError(400, 'invalidFilter', `only ${attributes.map((a) => `${a} eq "…"`).join(' or ')} filters are supported`);
  return { attribute, value: match[2]!.replace(/\\(.)/g, '$1') };
}
