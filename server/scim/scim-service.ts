import { randomUUID } from 'node:crypto';
import { clientAddressData } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { sameEmail } from '../identity/email-key.js';
import type { ScimGroupRecord, ScimStore, ScimUserRecord } from '../stores/types.js';
import { ScimError } from './scim-error.js';
import { patchGroup, patchUser } from './scim-patch.js';
import type { GroupState, UserState } from './scim-patch.js';
import { displayNameOf, emailsOf, groupAttributes, parseBody, parseFilter, patchRequest, userAttributes } from './scim-resources.js';
import type { GroupAttributes } from './scim-resources.js';

/** What a SCIM change does beyond the SCIM records (server/scim/identity-effects.ts). */
export interface ScimEffects {
  /**
   * The user is inactive (deactivated or deleted), or `user` is a renamed user as they were
   * before (`renamed`: their former name holds nothing any more): end everything they hold. Idempotent.
   */
  deprovisioned(user: ScimUserRecord, how: 'deactivated' | 'deleted' | 'renamed'): Promise<void>;
  /** These users' SCIM groups changed: re-judge their grants. */
  groupsChanged(users: readonly ScimUserRecord[]): Promise<void>;
  /**
   * A group change changed nothing, or found its group gone or its name taken: perhaps the
   * IdP retrying one that was written but whose effects failed, whose former members it no
   * longer names. Re-judge the grants of all the IdP's users by their groups as they stand. Idempotent.
   */
  groupsUnchanged(idp: string): Promise<void>;
}

export interface Page {
  startIndex: number;
  count: number;
}

/** A deleted user's record stays, out of SCIM's sight (ScimUserRecord.deletedAt). */
function visible(user: ScimUserRecord | null): user is ScimUserRecord {
  return user !== null && user.deletedAt === null;
}

/**
 * SCIM 2.0 users and groups of one IdP at a time (the caller's token names it). Every
 * change runs under the IdP's lock (across instances), is audited before it is written,
 * and its effects on credentials and grants follow once it is written.
 */
export class ScimService {
  constructor(
    private readonly deps: {
      store: ScimStore;
      audit: AuditLog;
      clock: Clock;
      lock: <T>(key: string, work: () => Promise<T>) => Promise<T>;
      effects: ScimEffects;
    },
  ) {}

  async listUsers(idp: string, filter: unknown, page: Page): Promise<{ total: number; users: ScimUserRecord[] }> {
    const by = parseFilter(filter, ['userName', 'externalId', 'id'] as const);
    const { users } = this.deps.store;
    const candidates = by?.attribute === 'userName' ? [await users.find(idp, [by.value])] : await users.list(idp);
    const matching = candidates.filter(visible).filter((u) => !by || by.attribute === 'userName' || (by.attribute === 'id' ? u.id : u.externalId) === by.value);
    return { total: matching.length, users: slice(matching, page) };
  }

  async getUser(idp: string, id: string): Promise<ScimUserRecord> {
    const user = await this.deps.store.users.get(idp, id);
    if (!visible(user)) throw ScimError.notFound('User', id);
    return user;
  }

  async createUser(idp: string, body: unknown, client: string | undefined): Promise<ScimUserRecord> {
    const attributes = parseBody(userAttributes, body);
    const created = await this.deps.lock(lockKey(idp), async () => {
      const holder = await this.deps.store.users.find(idp, [attributes.userName]);
      if (holder && holder.deletedAt === null) throw new ScimError(409, 'uniqueness', 'a user with this userName exists');
      const now = this.deps.clock.now();
      const active = attributes.active ?? true;
      const user: ScimUserRecord = {
        id: randomUUID(),
        idp,
        userName: attributes.userName,
        externalId: attributes.externalId ?? null,
        active,
        emails: emailsOf(attributes),
        displayName: displayNameOf(attributes),
        groups: null,
        // A user deleted before keeps their old credentials refused; one created inactive has none to keep.
        revokedBefore: active ? (holder?.revokedBefore ?? 0) : now,
        deletedAt: null,
        createdAt: now,
        updatedAt: now,
      };
      await this.audit('scim.user.created', user, clientAddressData(client));
      if (!(await this.deps.store.users.put(user, { displacing: holder?.id }))) throw new ScimError(409, 'uniqueness', 'a user with this userName exists');
      return user;
    });
    if (!created.active) await this.deps.effects.deprovisioned(created, 'deactivated');
    return created;
  }

  /** PUT: the attributes Portcullis keeps are replaced; `active` absent leaves it as it is. */
  replaceUser(idp: string, id: string, body: unknown, client: string | undefined): Promise<ScimUserRecord> {
    const attributes = parseBody(userAttributes, body);
    return this.changeUser(idp, id, client, (current) => ({
      userName: attributes.userName,
      externalId: attributes.externalId ?? null,
      active: attributes.active ?? current.active,
      displayName: displayNameOf(attributes),
      emails: emailsOf(attributes),
    }));
  }

  patchUser(idp: string, id: string, body: unknown, client: string | undefined): Promise<ScimUserRecord> {
    const { Operations } = parseBody(patchRequest, body);
    return this.changeUser(idp, id, client, (current) => patchUser(current, Operations));
  }

  async deleteUser(idp: string, id: string, client: string | undefined): Promise<void> {
    const deleted = await this.deps.lock(lockKey(idp), async () => {
      const current = await this.getUser(idp, id);
      const now = this.deps.clock.now();
      const tombstone: ScimUserRecord = { ...current, active: false, revokedBefore: now, deletedAt: now, updatedAt: now };
      await this.audit('scim.user.deleted', tombstone, clientAddressData(client));
      await this.deps.store.users.put(tombstone);
      for (const group of await this.deps.store.groups.list(idp)) {
        if (group.members.includes(id)) await this.deps.store.groups.put({ ...group, members: group.members.filter((m) => m !== id), updatedAt: now });
      }
      return tombstone;
    });
    await this.deps.effects.deprovisioned(deleted, 'deleted');
  }

  async listGroups(idp: string, filter: unknown, page: Page): Promise<{ total: number; groups: ScimGroupRecord[] }> {
    const by = parseFilter(filter, ['displayName', 'externalId', 'id'] as const);
    const { groups } = this.deps.store;
    const found = by?.attribute === 'displayName' ? [await groups.find(idp, [by.value])].filter((g) => g !== null) : await groups.list(idp);
    const matching = found.filter((g) => !by || by.attribute === 'displayName' || (by.attribute === 'id' ? g.id : g.externalId) === by.value);
    return { total: matching.length, groups: slice(matching, page) };
  }

  async getGroup(idp: string, id: string): Promise<ScimGroupRecord> {
    const group = await this.deps.store.groups.get(idp, id);
    if (!group) throw ScimError.notFound('Group', id);
    return group;
  }

  createGroup(idp: string, body: unknown, client: string | undefined): Promise<ScimGroupRecord> {
    const attributes = parseBody(groupAttributes, body);
    return this.writeGroup(idp, null, client, 'scim.group.created', () => {
      const now = this.deps.clock.now();
      return { id: randomUUID(), idp, ...groupStateOf(attributes), createdAt: now, updatedAt: now };
    });
  }

  replaceGroup(idp: string, id: string, body: unknown, client: string | undefined): Promise<ScimGroupRecord> {
    const attributes = parseBody(groupAttributes, body);
    return this.writeGroup(idp, id, client, 'scim.group.updated', (current) => ({ ...current!, ...groupStateOf(attributes), updatedAt: this.deps.clock.now() }));
  }

  patchGroup(idp: string, id: string, body: unknown, client: string | undefined): Promise<ScimGroupRecord> {
    const { Operations } = parseBody(patchRequest, body);
    return this.writeGroup(idp, id, client, 'scim.group.updated', (current) => ({ ...current!, ...patchGroup(current!, Operations), updatedAt: this.deps.clock.now() }));
  }

  async deleteGroup(idp: string, id: string, client: string | undefined): Promise<void> {
    await this.writeGroup(idp, id, client, 'scim.group.deleted', () => null);
  }

  /**
   * A userName change ends what was held under the former name, as a deactivation would:
   * the former name stays held by a tombstone (inactive, out of SCIM's sight), written in
   * the same step, so the credentials issued under it are refused from then on; the
   * person signs in again under the new name. A new name a tombstone held is taken over
   * (in the same step: never free in between), with the time before which its credentials
   * are refused.
   */
  private async changeUser(idp: string, id: string, client: string | undefined, change: (current: ScimUserRecord) => UserState): Promise<ScimUserRecord> {
    const { user: next, former } = await this.deps.lock(lockKey(idp), async () => {
      const current = await this.getUser(idp, id);
      const state = change(current);
      const now = this.deps.clock.now();
      const deactivated = current.active && !state.active;
      const changed = (Object.keys(state) as (keyof UserState)[]).filter((key) => JSON.stringify(state[key]) !== JSON.stringify(current[key]));
      // Okta PUTs the whole user on every sync: an unchanged one is neither audited nor written.
      if (changed.length === 0) return { user: current, former: null };
      const renamed = !sameEmail(state.userName, current.userName);
      const holder = renamed ? await this.deps.store.users.find(idp, [state.userName]) : null;
      if (holder && holder.deletedAt === null) throw new ScimError(409, 'uniqueness', 'a user with this userName exists');
      const revokedBefore = Math.max(deactivated ? now : current.revokedBefore, holder?.revokedBefore ?? 0);
      const user: ScimUserRecord = { ...current, ...state, revokedBefore, updatedAt: now };
      const type = deactivated ? 'scim.user.deactivated' : !current.active && state.active ? 'scim.user.reactivated' : 'scim.user.updated';
      await this.audit(type, user, { changed, ...(renamed ? { renamedFrom: current.userName } : {}), ...clientAddressData(client) });
      const tombstone = renamed ? { ...current, id: randomUUID(), externalId: null, active: false, emails: [], displayName: null, groups: null, revokedBefore: now, deletedAt: now, createdAt: now, updatedAt: now } : undefined;
      if (!(await this.deps.store.users.put(user, { displacing: holder?.id, tombstone }))) throw new ScimError(409, 'uniqueness', 'a user with this userName exists');
      return { user, former: renamed ? current : null };
    });
    if (former) await this.deps.effects.deprovisioned(former, 'renamed');
    // Also when it already was inactive: a retried deactivation finishes what a failure cut short.
    if (!next.active) await this.deps.effects.deprovisioned(next, 'deactivated');
    return next;
  }

  /**
   * A group change (`make` returns null: a deletion; `id` null: a creation) and the
   * memberships it moves: every user whose groups it changed gets them recomputed, then
   * their grants are re-judged. Members must be this IdP's users.
   */
  private async writeGroup(idp: string, id: string | null, client: string | undefined, type: 'scim.group.created' | 'scim.group.updated' | 'scim.group.deleted', make: (current: ScimGroupRecord | null) => ScimGroupRecord | null): Promise<ScimGroupRecord> {
    const outcome = await this.lockedGroupWrite(idp, async () => {
      const current = id === null ? null : await this.getGroup(idp, id);
      const group = make(current);
      const shown = (group ?? current)!;
      for (const member of group?.members ?? []) {
        if (!visible(await this.deps.store.users.get(idp, member))) throw ScimError.invalidValue('members must be users of this IdP');
      }
      const before = new Set(current?.members ?? []);
      const after = new Set(group?.members ?? []);
      const renamed = current !== null && group !== null && current.displayName !== group.displayName;
      const moved = [...new Set([...before, ...after])].filter((m) => renamed || before.has(m) !== after.has(m));
      if (current && group && moved.length === 0 && group.externalId === current.externalId) return { group: current, users: null };
      const data = { scimClient: idp, groupId: shown.id, displayName: shown.displayName, added: [...after].filter((m) => !before.has(m)), removed: [...before].filter((m) => !after.has(m)), ...clientAddressData(client) };
      await this.deps.audit.append({ type, outcome: 'SUCCESS', actor: null, data });
      if (group === null) await this.deps.store.groups.delete(idp, shown.id);
      else if (!(await this.deps.store.groups.put(group))) throw new ScimError(409, 'uniqueness', 'a group with this displayName exists');
      return { group: shown, users: await this.regroup(idp, moved) };
    });
    if (outcome.users === null) await this.deps.effects.groupsUnchanged(idp);
    else if (outcome.users.length > 0) await this.deps.effects.groupsChanged(outcome.users);
    return outcome.group;
  }

  /**
   * The group change under the IdP's lock. Its effects follow the write, so a failure there
   * (a 503) leaves it written: the IdP's retry then changes nothing (users null), finds the
   * group deleted (404) or its creation made (409), and the effects it owes run as
   * groupsUnchanged, as a retried deactivation deprovisions again.
   */
  private async lockedGroupWrite(idp: string, work: () => Promise<{ group: ScimGroupRecord; users: ScimUserRecord[] | null }>): Promise<{ group: ScimGroupRecord; users: ScimUserRecord[] | null }> {
    try {
      return await this.deps.lock(lockKey(idp), work);
    } catch (error) {
      if (error instanceof ScimError && (error.status === 404 || error.status === 409)) await this.deps.effects.groupsUnchanged(idp);
      throw error;
    }
  }

  /** Recomputes the groups of these users from the IdP's groups as they now stand. */
  private async regroup(idp: string, userIds: readonly string[]): Promise<ScimUserRecord[]> {
    if (userIds.length === 0) return [];
    const groups = await this.deps.store.groups.list(idp);
    const regrouped: ScimUserRecord[] = [];
    for (const id of userIds) {
      const user = await this.deps.store.users.get(idp, id);
      if (!visible(user)) continue;
      const names = groups.filter((g) => g.members.includes(id)).map((g) => g.displayName);
      const next = { ...user, groups: names, updatedAt: this.deps.clock.now() };
      await this.deps.store.users.put(next);
      regrouped.push(next);
    }
    return regrouped;
  }

  private audit(type: 'scim.user.created' | 'scim.user.updated' | 'scim.user.deactivated' | 'scim.user.reactivated' | 'scim.user.deleted', user: ScimUserRecord, data: Record<string, unknown>): Promise<unknown> {
    return this.deps.audit.append({ type, outcome: 'SUCCESS', actor: null, data: { scimClient: user.idp, scimUserId: user.id, userName: user.userName, externalId: user.externalId, active: user.active, ...data } });
  }
}

/** One IdP's SCIM changes run one at a time (across instances): memberships and names stay consistent. */
function lockKey(idp: string): string {
  return `scim:${idp}`;
}

function groupStateOf(attributes: GroupAttributes): GroupState {
  return { displayName: attributes.displayName, externalId: attributes.externalId ?? null, members: [...new Set((attributes.members ?? []).map((m) => m.value))] };
}

function slice<T>(records: readonly T[], { startIndex, count }: Page): T[] {
  return records.slice(startIndex - 1, startIndex - 1 + count);
}
