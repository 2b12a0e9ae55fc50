import { readFileSync } from 'node:fs';
import { generate } from '@graphql-codegen/cli';
import type { CodegenConfig } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createPubSub } from '@graphql-yoga/subscription';
import { buildPortcullisSchema } from '../../schema/build-schema.js';
import { printPortcullisSchema } from '../../schema/print-schema.js';

const STALE = 'stale: run `npm run codegen` and commit the result';

describe('generated artifacts are current', () => {
  it('schema/schema.graphql matches the type-graphql classes', async () => {
    const committed = readFileSync('schema/schema.graphql', 'utf8');
    expect(printPortcullisSchema(await buildPortcullisSchema(createPubSub())), STALE).toBe(committed);
  });

  it('clients/graphql/generated matches the schema and documents', async () => {
    const config = parse(readFileSync('codegen.yml', 'utf8')) as CodegenConfig;
    const outputs = await generate({ ...config, silent: true, cwd: process.cwd() }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      expect(output.content, `${output.filename} ${STALE}`).toBe(readFileSync(output.filename, 'utf8'));
    }
  });
});
