import { describe, expect, it } from 'vitest';
import { poolBudgets } from '../../server/detection/entity-budgets.js';

describe('how maxEntities is shared between tools and people and roles', () => {
  it('gives tools a quarter, at least one place once there are two, and never more than people and roles', () => {
    expect(poolBudgets(1)).toEqual({ tools: 0, principals: 1 });
    expect(poolBudgets(2)).toEqual({ tools: 1, principals: 1 });
    expect(poolBudgets(3)).toEqual({ tools: 1, principals: 2 });
    expect(poolBudgets(8)).toEqual({ tools: 2, principals: 6 });
    expect(poolBudgets(100_000)).toEqual({ tools: 25_000, principals: 75_000 });
    for (let maxEntities = 1; maxEntities <= 64; maxEntities++) {
      const { tools, principals } = poolBudgets(maxEntities);
      expect(tools + principals).toBe(maxEntities);
      expect(principals).toBeGreaterThanOrEqual(tools);
    }
  });
});
