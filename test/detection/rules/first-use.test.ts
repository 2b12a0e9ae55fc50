import { describe, expect, it } from 'vitest';
import { firstUseByRole } from '../../../server/detection/rules/first-use-by-role.js';
import { entityKey } from '../../../server/detection/types.js';
import { firstUseByUser } from '../../../server/detection/rules/first-use-by-user.js';
import { DAY, HOUR, MONDAY, RuleDriver, runRoutine } from '../../support/rule-driver.js';

const TOOLS = ['search_code', 'get_issue', 'list_pulls'];
const habit = (i: number) => ({ server: 'github', tool: TOOLS[i % TOOLS.length]!, role: 'dev' });
const AFTER = MONDAY + 15 * DAY + 10 * HOUR;

describe('first_use_by_user', () => {
  const withHistory = () => {
    const driver = new RuleDriver([firstUseByUser]);
    expect(runRoutine(driver, { start: MONDAY, days: 14, fromHour: 9, toHour: 17, perHour: 4, call: habit })).toEqual([]);
    return driver;
  };

  it('flags the first call of a tool the person never used, against what they did use', () => {
    const driver = withHistory();
    const [found, ...more] = driver.feed({ at: AFTER, server: 'github', tool: 'delete_repo' });
    expect(more).toEqual([]);
    expect(found).toMatchObject({ rule: 'first_use_by_user', severity: 'low', observed: { what: 'tool', server: 'github', tool: 'delete_repo' }, baseline: { knownServers: 0, knownToolsOnServer: 3, historyDays: 15 } });
    expect(found!.summary).toBe(
      'alice@example.com used tool delete_repo on github for the first time, after 15 days in which they used 0 other servers and 3 other tools on github: a first use is often a new task, but it is also how a stolen session explores',
    );
    expect(driver.feed({ at: AFTER + 1000, server: 'github', tool: 'delete_repo' })).toEqual([]);
  });

  it('flags a first session on a server once, not once more for each tool then called on it', () => {
    const driver = withHistory();
    const [found] = driver.feed({ at: AFTER, kind: 'session', server: 'payroll', tool: null, method: null });
    expect(found).toMatchObject({ observed: { what: 'server', server: 'payroll', tool: null }, baseline: { knownServers: 1 } });
    for (const [i, tool] of ['list_employees', 'get_salary', 'export'].entries()) expect(driver.feed({ at: AFTER + (i + 1) * 60_000, server: 'payroll', tool })).toEqual([]);
    // A day later, another tool there is a first use of its own.
    expect(driver.feed({ at: AFTER + DAY, server: 'payroll', tool: 'delete_employee' })).toHaveLength(1);
  });

  it('stays quiet on tools already used, and during warm-up (a new team member tries everything)', () => {
    const driver = new RuleDriver([firstUseByUser]);
    for (let i = 0; i < 60; i++) expect(driver.feed({ at: MONDAY + i * HOUR, server: `server-${i % 6}`, tool: `tool-${i}` })).toEqual([]);
    expect(runRoutine(withHistory(), { start: MONDAY + 14 * DAY, days: 7, fromHour: 9, toHour: 17, perHour: 4, call: habit })).toEqual([]);
  });

  it('keeps a bounded state however many tools pass', () => {
    const driver = withHistory();
    for (let i = 0; i < 3000; i++) driver.feed({ at: AFTER + i * 1000, server: `server-${i % 300}`, tool: `tool-number-${i}` });
    expect(driver.slotBytes('user:alice@example.com', firstUseByUser)).toBeLessThan(32 * 1024);
  });
});

describe('first_use_by_role', () => {
  const withRoleHistory = () => {
    const driver = new RuleDriver([firstUseByRole]);
    for (const user of ['alice@example.com', 'bob@example.com']) expect(runRoutine(driver, { user, start: MONDAY, days: 10, fromHour: 9, toHour: 17, perHour: 2, call: habit })).toEqual([]);
    return driver;
  };

  it('flags a tool nobody in the role used, even by a member still warming up', () => {
    const driver = withRoleHistory();
    const [found] = driver.feed({ user: 'carol@example.com', at: AFTER, server: 'github', tool: 'delete_repo', role: 'dev' });
    expect(found).toMatchObject({ rule: 'first_use_by_role', severity: 'medium', observed: { what: 'tool', tool: 'delete_repo', role: 'dev' }, baseline: { knownToolsOnServer: 3 } });
    expect(found!.summary).toContain('which nobody in role dev used in 15 days');
    // Now the role has used it: another member's use is no news.
    expect(driver.feed({ user: 'bob@example.com', at: AFTER + HOUR, server: 'github', tool: 'delete_repo', role: 'dev' })).toEqual([]);
  });

  it('cannot be made to forget what the role uses by one member flooding it with made-up tools (framing colleagues)', () => {
    const driver = withRoleHistory();
    // Used by Mallory first, then by a colleague: the role's, not Mallory's alone.
    driver.feed({ user: 'mallory@example.com', at: AFTER, server: 'github', tool: 'list_branches', role: 'dev' });
    driver.feed({ user: 'bob@example.com', at: AFTER + 1000, server: 'github', tool: 'list_branches', role: 'dev' });
    // A wildcard grant lets any name through: more made-up names than the role's set holds.
    for (let i = 0; i < 2001; i++) driver.feed({ user: 'mallory@example.com', at: AFTER + HOUR + i * 1000, server: 'github', tool: `made-up-${i}`, role: 'dev' });
    const later = AFTER + 2 * HOUR;
    for (const tool of [...TOOLS, 'list_branches']) expect(driver.feed({ user: 'bob@example.com', at: later, server: 'github', tool, role: 'dev' })).toEqual([]);
    // The flood may fill the room the set has (2,000 tools, each with its time and, held alone, its holder), never more.
    expect(driver.slotBytes('role:dev', firstUseByRole)).toBeLessThan(160 * 1024);
  });

  it('keeps every tool of a member who alone uses more than 200 while the role has room (a role of one, an admin across large servers)', () => {
    const driver = new RuleDriver([firstUseByRole]);
    expect(runRoutine(driver, { start: MONDAY, days: 10, fromHour: 9, toHour: 17, perHour: 2, call: habit })).toEqual([]);
    for (let i = 0; i < 300; i++) driver.feed({ at: AFTER + i * 1000, server: `server-${i % 3}`, tool: `tool-${i}`, role: 'dev' });
    for (const [server, tool] of [['server-0', 'tool-0'], ['github', TOOLS[0]!]]) expect(driver.feed({ at: AFTER + HOUR, server, tool, role: 'dev' })).toEqual([]);
  });

  it('keeps what a heavy member holds alone, and the role’s tools, when a colleague floods the role and a third member then uses new tools', () => {
    const driver = withRoleHistory();
    for (let i = 0; i < 300; i++) driver.feed({ at: AFTER + i * 1000, server: 'github', tool: `own-${i}`, role: 'dev' });
    for (let i = 0; i < 2001; i++) driver.feed({ user: 'mallory@example.com', at: AFTER + HOUR + i * 1000, server: 'github', tool: `made-up-${i}`, role: 'dev' });
    // The set is full of Mallory's names: a member's new tools take their room from Mallory, who holds more than 200 alone.
    for (let i = 0; i < 50; i++) driver.feed({ user: 'carol@example.com', at: AFTER + 2 * HOUR + i * 1000, server: 'github', tool: `carol-${i}`, role: 'dev' });
    const later = AFTER + 3 * HOUR;
    expect(driver.feed({ at: later, server: 'github', tool: 'own-0', role: 'dev' })).toEqual([]);
    for (const tool of TOOLS) expect(driver.feed({ user: 'bob@example.com', at: later, server: 'github', tool, role: 'dev' })).toEqual([]);
  });

  it('stays quiet on what the role uses, and while the role itself is new', () => {
    const driver = withRoleHistory();
    expect(driver.feed({ user: 'carol@example.com', at: AFTER, server: 'github', tool: 'get_issue', role: 'dev' })).toEqual([]);
    expect(driver.feed({ at: AFTER, server: 'github', tool: 'delete_repo', role: 'ops' })).toEqual([]);
    expect(driver.feed({ at: AFTER + 2 * DAY, server: 'github', tool: 'drop_table', role: 'ops' })).toEqual([]);
    expect(driver.feed({ at: AFTER, server: 'github', tool: 'delete_repo', role: null })).toEqual([]);
  });
});

describe('a role\'s known tools as an older version stored them (names as sent)', () => {
  it('knows a tool under its name as sent even when the set is full and it is the oldest: no room made for it, no first use', () => {
    const driver = new RuleDriver([firstUseByRole]);
    // The role's state read back from the store: 2,000 tools, the oldest recorded under its name with capitals.
    const last: Record<string, number> = { 'github/getUser': MONDAY };
    for (let i = 1; i < 2000; i++) last[`github/tool-${i}`] = MONDAY + i;
    const tools = { size: 2000, last };
    driver.states.set(entityKey('role', 'dev'), { firstSeen: MONDAY, lastSeen: MONDAY + DAY, count: 2000, slots: { first_use_by_role: { servers: { size: 1, last: { github: MONDAY } }, tools, newServer: null, newServerAt: 0 } } });
    expect(driver.feed({ user: 'bob@example.com', at: AFTER, server: 'github', tool: 'getUser', role: 'dev' })).toEqual([]);
    expect(Object.hasOwn(tools.last, 'github/getuser')).toBe(true);
    expect(Object.hasOwn(tools.last, 'github/getUser')).toBe(false);
    expect(tools.size).toBe(2000);
  });
});
