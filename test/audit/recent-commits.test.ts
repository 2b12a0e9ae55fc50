import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { chainEvent, GENESIS_HASH } from '../../server/audit/chain.js';
import type { ChainLink } from '../../server/audit/chain.js';
import { RecentCommits } from '../../server/audit/recent-commits.js';

function link(n: number, padding = ''): ChainLink {
  return chainEvent({ type: 'mcp.request', outcome: 'SUCCESS', actor: 'a@example.com', data: { n, padding } }, new Date(0).toISOString(), GENESIS_HASH);
}

describe('recent commits (what a Redis log\'s own tails take instead of parsing)', () => {
  it('gives an event back only for exactly the JSON committed under its cursor', () => {
    const recent = new RecentCommits();
    const committed = link(1);
    recent.add('1-0', committed);
    expect(recent.get('1-0', committed.json)).toBe(committed.event);
    expect(recent.get('1-0', committed.json.replace('"n":1', '"n":2'))).toBeUndefined();
    expect(recent.get('1-0', undefined)).toBeUndefined();
    expect(recent.get('2-0', committed.json)).toBeUndefined();
  });

  it('forgets what it held once the broker is idle', async () => {
    const recent = new RecentCommits();
    const committed = link(1);
    recent.add('1-0', committed);
    // Two generations (250 ms each) and a sweep's turn, with nothing added or read meanwhile.
    await sleep(1_200);
    expect(recent.get('1-0', committed.json)).toBeUndefined();
  });

  it('holds at most two generations of 1,024 events or 4 MiB each, however fast events come', () => {
    const recent = new RecentCommits();
    const links = Array.from({ length: 2_100 }, (_, n) => link(n));
    links.forEach((l, n) => recent.add(`${n}-0`, l));
    expect(recent.get('0-0', links[0]!.json)).toBeUndefined();
    expect(recent.get('2099-0', links[2099]!.json)).toBe(links[2099]!.event);

    const large = new RecentCommits();
    const big = Array.from({ length: 7 }, (_, n) => link(n, 'x'.repeat(3 * 1024 * 1024)));
    big.forEach((l, n) => large.add(`${n}-0`, l));
    expect(large.get('0-0', big[0]!.json)).toBeUndefined();
    expect(large.get('6-0', big[6]!.json)).toBe(big[6]!.event);
  });
});
