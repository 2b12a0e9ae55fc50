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

  it('the CLI\'s and the console\'s typed documents (clients/graphql/generated, console/src/gql) match the schema and documents', async () => {
    const config = parse(readFileSync('codegen.yml', 'utf8')) as CodegenConfig;
    const outputs = await generate({ ...config, silent: true, cwd: process.cwd() }, false);
    const targets: string[] = [];
    for (const output of outputs) {
      targets.push(output.filename);
      expect(output.content, `${output.filename} ${STALE}`).toBe(readFileSync(output.filename, 'utf8'));
    }
    expect(targets).toEqual(expect.arrayContaining(['clients/graphql/generated/graphql.ts', 'console/src/gql/graphql.ts']));
  });
});
