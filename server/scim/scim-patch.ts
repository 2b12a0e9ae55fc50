import { z } from 'zod';
import type { ScimEmail } from '../stores/types.js';
import { ScimError } from './scim-error.js';
import { displayNameOf, emailsOf, groupAttributes, members, parseBody, scimBoolean, SCHEMA, userAttributes } from './scim-resources.js';
import type { PatchOperation } from './scim-resources.js';

/** The user attributes a PATCH may change. */
export interface UserState {
  userName: string;
  externalId: string | null;
  active: boolean;
  displayName: string | null;
  emails: ScimEmail[];
}

/** The group attributes a PATCH may change; members by our user ids. */
export interface GroupState {
  displayName: string;
  externalId: string | null;
  members: string[];
}

const nullableText = z.string().max(256).nullable();
const EMAIL_OF_TYPE = /^emails\[type eq "([\w-]{1,64})"\]\.value$/i;
const MEMBER_FILTER = /^members\[value eq "((?:[^"\\]|\\.){1,256})"\]$/i;

/** An attribute path without its schema URN (RFC 7644 §3.10 allows the fully qualified form), in lower case. */
function attributeOf(path: string, schema: string): string {
  const prefix = `${schema}:`.toLowerCase();
  const lower = path.trim().toLowerCase();
  return lower.startsWith(prefix) ? lower.slice(prefix.length) : lower;
}

function valueOf<T>(schema: z.ZodType<T>, op: PatchOperation, what: string): T {
  const parsed = schema.safeParse(op.value);
  if (!parsed.success) throw ScimError.invalidValue(what);
  return parsed.data;
}

/**
 * Applies a PatchOp (RFC 7644 §3.5.2) to a user, in the shapes Okta and Entra ID send:
 * Okta `{op:"replace", value:{active:false}}`, Entra `{op:"Replace", path:"active",
 * value:"False"}` and `path:'emails[type eq "work"].value'`. Paths of attributes Portcullis
 * does not keep are ignored, as their values would be on a PUT.
 */
export function patchUser(state: UserState, operations: readonly PatchOperation[]): UserState {
  return operations.reduce<UserState>((next, op) => {
    if (op.path === undefined) {
      if (op.op === 'remove') throw new ScimError(400, 'noTarget', 'remove needs a path');
      const value = parseBody(userAttributes.partial(), op.value);
      const displayName = value.displayName !== undefined || value.name ? displayNameOf(value) : next.displayName;
      return {
        userName: value.userName ?? next.userName,
        externalId: value.externalId === undefined ? next.externalId : value.externalId,
        active: value.active ?? next.active,
        displayName,
        emails: value.emails === undefined ? next.emails : emailsOf(value),
      };
    }
    const attribute = attributeOf(op.path, SCHEMA.user);
    const removing = op.op === 'remove';
    switch (attribute) {
      case 'active':
        if (removing) throw new ScimError(400, 'mutability', 'active cannot be removed');
        return { ...next, active: valueOf(scimBoolean, op, 'active must be a boolean') };
      case 'username':
        if (removing) throw new ScimError(400, 'mutability', 'userName cannot be removed');
        return { ...next, userName: valueOf(userAttributes.shape.userName, op, 'userName must be text') };
      case 'externalid':
        return { ...next, externalId: removing ? null : valueOf(nullableText, op, 'externalId must be text') };
      case 'displayname':
        return { ...next, displayName: removing ? null : valueOf(nullableText, op, 'displayName must be text') };
      case 'emails':
        if (removing) return { ...next, emails: [] };
        {
          const emails = emailsOf({ emails: valueOf(userAttributes.shape.emails, op, 'emails must be a list') });
          return { ...next, emails: op.op === 'add' ? [...next.emails, ...emails] : emails };
        }
      default: {
        const type = EMAIL_OF_TYPE.exec(op.path.trim())?.[1];
        if (type === undefined) return next;
        const others = next.emails.filter((e) => e.type?.toLowerCase() !== type.toLowerCase());
        if (removing) return { ...next, emails: others };
        const value = valueOf(z.string().trim().min(1).max(320), op, 'an email value must be text');
        const existing = next.emails.find((e) => e.type?.toLowerCase() === type.toLowerCase());
        return { ...next, emails: [...others, { value, type, primary: existing?.primary ?? others.length === 0 }] };
      }
    }
  }, state);
}

/**
 * Applies a PatchOp to a group: renames, and members added and removed as Okta and Entra
 * ID send them (`{op:"add", path:"members", value:[{value:id}]}`, `{op:"remove",
 * path:'members[value eq "id"]'}`, Entra's `{op:"Remove", path:"members", value:[…]}`).
 */
export function patchGroup(state: GroupState, operations: readonly PatchOperation[]): GroupState {
  return operations.reduce<GroupState>((next, op) => {
    if (op.path === undefined) {
      if (op.op === 'remove') throw new ScimError(400, 'noTarget', 'remove needs a path');
      const value = parseBody(groupAttributes.partial(), op.value);
      const added = value.members?.map((m) => m.value);
      return {
        displayName: value.displayName ?? next.displayName,
        externalId: value.externalId === undefined ? next.externalId : value.externalId,
        members: added === undefined ? next.members : op.op === 'add' ? union(next.members, added) : union([], added),
      };
    }
    const attribute = attributeOf(op.path, SCHEMA.group);
    if (attribute === 'members') {
      const given = op.value === undefined && op.op === 'remove' ? null : valueOf(members, op, 'members must be a list').map((m) => m.value);
      if (op.op === 'add') return { ...next, members: union(next.members, given ?? []) };
      if (op.op === 'replace') return { ...next, members: union([], given ?? []) };
      return { ...next, members: given === null ? [] : next.members.filter((id) => !given.includes(id)) };
    }
    const one = MEMBER_FILTER.exec(op.path.trim());
    if (one) {
      if (op.op !== 'remove') throw new ScimError(400, 'invalidPath', 'a members[value eq "…"] path is for remove');
      const id = one[1]!.replace(/\\(.)/g, '$1');
      return { ...next, members: next.members.filter((m) => m !== id) };
    }
    if (attribute === 'displayname') {
      if (op.op === 'remove') throw new ScimError(400, 'mutability', 'displayName cannot be removed');
      return { ...next, displayName: valueOf(groupAttributes.shape.displayName, op, 'displayName must be text') };
    }
    if (attribute === 'externalid') return { ...next, externalId: op.op === 'remove' ? null : valueOf(nullableText, op, 'externalId must be text') };
    return next;
  }, state);
}

function union(current: readonly string[], added: readonly string[]): string[] {
  return [...new Set([...current, ...added])];
}
