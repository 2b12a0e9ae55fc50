import { describe, expect, it } from 'vitest';
import { breadth } from '../../../server/detection/rules/breadth.js';
import { DAY, HOUR, MONDAY, RuleDriver, runRoutine } from '../../support/rule-driver.js';

const AFTER = MONDAY + 15 * DAY + 10 * HOUR;
/** Everyday work: four tools on two servers, a couple of dozen different arguments an hour. */
const everyday = (i: number) => ({ server: i % 5 === 0 ? 'jira' : 'github', tool: ['search_code', 'get_issue', 'list_pulls', 'get_file'][i % 4]!, argumentsDigest: `d${i % 24}` });

function withHistory(): RuleDriver {
  const driver = new RuleDriver([breadth]);
  expect(runRoutine(driver, { start: MONDAY, days: 15, fromHour: 9, toHour: 17, perHour: 30, call: everyday })).toEqual([]);
  return driver;
}

describe('breadth', () => {
  it('flags an enumeration of many tools once, against the threshold', () => {
    const driver = withHistory();
    const found = Array.from({ length: 30 }, (_, i) => driver.feed({ at: AFTER + i * 10_000, server: `server-${i % 2}`, tool: `tool-${i}` })).flat();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ rule: 'breadth', severity: 'medium', score: 1, observed: { windowSeconds: 600, distinctTools: 15 }, baseline: { distinctTools: 15 } });
    expect(found[0]!.observed.tools).toHaveLength(15);
    expect(found[0]!.summary).toBe(
      'alice@example.com used 15 distinct tools (threshold 15) within 10 minutes: everyday work touches a few, this went through them one after another, as an agent enumerating its reach does',
    );
    expect(found[0]!.eventIds.at(-1)).toBe(driver.triggeredBy[0]);
    expect(found[0]!.eventIds.length).toBeLessThanOrEqual(20);
  });

  it('flags a sweep over many servers', () => {
    const driver = withHistory();
    const [found] = Array.from({ length: 5 }, (_, i) => driver.feed({ at: AFTER + i * 10_000, server: `server-${i}`, tool: 'list' })).flat();
    expect(found).toMatchObject({ observed: { distinctServers: 5, servers: ['server-0', 'server-1', 'server-2', 'server-3', 'server-4'] }, baseline: { distinctServers: 5 } });
  });

  it('flags a bulk export: one tool called with many different arguments', () => {
    const driver = withHistory();
    const found = Array.from({ length: 100 }, (_, i) => driver.feed({ at: AFTER + i * 5_000, server: 'crm', tool: 'get_customer', argumentsDigest: `customer-${i}` })).flat();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ observed: { distinctArguments: 60, tool: 'crm/get_customer' }, baseline: { distinctArguments: 60 } });
    expect(found[0]!.summary).toContain('record after record, as a bulk export does');
  });

  it('flags a sweep of one server\'s resources read one by one, which no tool names', () => {
    const driver = withHistory();
    const found = Array.from({ length: 100 }, (_, i) => driver.feed({ at: AFTER + i * 5_000, server: 'crm', tool: null, method: 'resources/read', argumentsDigest: `uri-${i}` })).flat();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ observed: { distinctArguments: 60, server: 'crm' }, baseline: { distinctArguments: 60 } });
    expect(found[0]!.observed).not.toHaveProperty('tool');
    expect(found[0]!.summary).toContain('60 distinct resources and prompts of crm (threshold 60)');
    expect(found[0]!.summary).toContain('record after record, as a bulk export does');
  });

  it('counts prompts with their arguments with the server\'s resources, and no tool of it', () => {
    const driver = withHistory();
    const reads = Array.from({ length: 30 }, (_, i) => driver.feed({ at: AFTER + i * 5_000, server: 'crm', tool: null, method: 'resources/read', argumentsDigest: `uri-${i}` })).flat();
    // The server's tools keep their own values: the same digests of a tool's arguments add nothing here.
    const calls = Array.from({ length: 30 }, (_, i) => driver.feed({ at: AFTER + 200_000 + i * 1_000, server: 'crm', tool: 'get_customer', argumentsDigest: `uri-${i}` })).flat();
    const prompts = Array.from({ length: 30 }, (_, i) => driver.feed({ at: AFTER + 250_000 + i * 5_000, server: 'crm', tool: null, method: 'prompts/get', argumentsDigest: `prompt-${i}` })).flat();
    expect([...reads, ...calls]).toEqual([]);
    expect(prompts).toHaveLength(1);
    expect(prompts[0]).toMatchObject({ observed: { distinctArguments: 60, server: 'crm' } });
  });

  it('stays quiet on everyday work across a few tools', () => {
    expect(runRoutine(withHistory(), { start: MONDAY + 15 * DAY, days: 10, fromHour: 9, toHour: 17, perHour: 60, call: everyday })).toEqual([]);
  });

  it('judges a person in the warm-up on one tool\'s values (a new or long-idle account exporting at once is flagged), not on the tools and servers they find their way around', () => {
    const driver = new RuleDriver([breadth]);
    expect(breadth.judgesNewcomers).toBe(true);
    expect(Array.from({ length: 30 }, (_, i) => driver.feed({ at: MONDAY + i * 10_000, server: `server-${i % 6}`, tool: `tool-${i}` })).flat()).toHaveLength(0);
    const exported = Array.from({ length: 70 }, (_, i) => driver.feed({ at: MONDAY + 5 * 60_000 + i * 5_000, server: 'crm', tool: 'get_record', argumentsDigest: `${i}`.padEnd(64, 'a') })).flat();
    expect(exported).toHaveLength(1);
  });

  it('flags again only after the sweep has stopped for a window', () => {
    const driver = withHistory();
    const sweep = (from: number) => Array.from({ length: 60 }, (_, i) => driver.feed({ at: from + i * 20_000, server: 'github', tool: `tool-${i}` })).flat();
    expect(sweep(AFTER)).toHaveLength(1);
    expect(sweep(AFTER + 2 * HOUR)).toHaveLength(1);
  });

  it('keeps a bounded state however wide the sweep', () => {
    const driver = withHistory();
    for (let i = 0; i < 20_000; i++) driver.feed({ at: AFTER + i * 1000, server: `server-${i % 97}`, tool: `tool-${i % 1009}`, argumentsDigest: `${i}`.padStart(64, 'f') });
    expect(driver.slotBytes('user:alice@example.com', breadth)).toBeLessThan(48 * 1024);
  });

  it('keeps a bounded state however wide a sweep of reads over many servers', () => {
    const driver = withHistory();
    for (let i = 0; i < 20_000; i++) driver.feed({ at: AFTER + i * 1000, server: `server-${i % 97}`, tool: null, method: i % 2 === 0 ? 'resources/read' : 'prompts/get', argumentsDigest: `${i}`.padStart(64, 'f') });
    expect(driver.slotBytes('user:alice@example.com', breadth)).toBeLessThan(48 * 1024);
  });
});
