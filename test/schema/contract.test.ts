import { readFileSync } from 'node:fs';
import { buildSchema, findBreakingChanges } from 'graphql';
import { describe, expect, it } from 'vitest';

describe('the public GraphQL contract', () => {
  it('schema/schema.graphql is a compatible superset of schema/contract/api.graphql', () => {
    const contract = buildSchema(readFileSync('schema/contract/api.graphql', 'utf8'));
    const ours = buildSchema(readFileSync('schema/schema.graphql', 'utf8'));
    expect(findBreakingChanges(contract, ours).map((c) => `${c.type}: ${c.description}`)).toEqual([]);
  });
});
