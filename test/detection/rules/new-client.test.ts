import { describe, expect, it } from 'vitest';
import { newClient } from '../../../server/detection/rules/new-client.js';
import { DAY, MONDAY, RuleDriver, runRoutine } from '../../support/rule-driver.js';

const CLAUDE = { name: 'claude-code', version: '2.1.0', oauthClientId: null };

function withHistory(): RuleDriver {
  const driver = new RuleDriver([newClient]);
  expect(runRoutine(driver, { start: MONDAY, days: 14, fromHour: 9, toHour: 17, perHour: 4, call: () => ({ client: CLAUDE }) })).toEqual([]);
  return driver;
}

describe('new_client', () => {
  it('flags a client name the person never connected with, naming the clients they use', () => {
    const driver = withHistory();
    const [found, ...more] = driver.feed({ at: MONDAY + 15 * DAY, kind: 'session', server: 'github', client: { name: 'mcp-grabber', version: '0.1', oauthClientId: null } });
    expect(more).toEqual([]);
    expect(found).toMatchObject({ rule: 'new_client', severity: 'low', score: 1, observed: { name: 'mcp-grabber', version: '0.1' }, baseline: { knownClients: 1, recent: ['claude-code 2.1.0'] } });
    expect(found!.summary).toContain('"mcp-grabber" 0.1, a client they never used before (before it: claude-code 2.1.0)');
    expect(found!.eventIds).toHaveLength(1);
    expect(driver.feed({ at: MONDAY + 15 * DAY + 1000, kind: 'session', server: 'github', client: { name: 'mcp-grabber', version: '0.1', oauthClientId: null } })).toEqual([]);
  });

  it('records a new version of a known client without flagging it (auto-updates are benign)', () => {
    const driver = withHistory();
    expect(driver.feed({ at: MONDAY + 15 * DAY, kind: 'session', server: 'github', client: { ...CLAUDE, version: '2.2.0' } })).toEqual([]);
    const [found] = driver.feed({ at: MONDAY + 15 * DAY + 1000, kind: 'session', server: 'github', client: { name: 'cursor', version: '1.0', oauthClientId: null } });
    expect(found!.baseline.recent).toEqual(['claude-code 2.2.0', 'claude-code 2.1.0']);
  });

  it('names an OAuth client by its id when the client gave no name', () => {
    const driver = withHistory();
    const [found] = driver.feed({ at: MONDAY + 15 * DAY, kind: 'session', server: 'github', client: { name: '', version: null, oauthClientId: 'oc_7f3' } });
    expect(found!.observed).toMatchObject({ name: 'oc_7f3', oauthClientId: 'oc_7f3' });
  });

  it('stays quiet while the person is warming up: a new team member tries several clients', () => {
    const driver = new RuleDriver([newClient]);
    for (const [i, name] of ['claude-code', 'cursor', 'vscode', 'zed'].entries()) expect(driver.feed({ at: MONDAY + i * DAY, kind: 'session', server: 'github', client: { name, version: '1', oauthClientId: null } })).toEqual([]);
  });

  it('keeps a bounded state however many clients and versions pass', () => {
    const driver = withHistory();
    for (let i = 0; i < 5000; i++) driver.feed({ at: MONDAY + 15 * DAY + i * 1000, kind: 'session', server: 'github', client: { name: `client-${i % 700}`, version: `${i}`, oauthClientId: null } });
    expect(driver.slotBytes('user:alice@example.com', newClient)).toBeLessThan(8 * 1024);
  });
});
