import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPubSub } from '@graphql-yoga/subscription';
import { buildPortcullisSchema } from './build-schema.js';
import { printPortcullisSchema } from './print-schema.js';

const target = fileURLToPath(new URL('./schema.graphql', import.meta.url));
writeFileSync(target, printPortcullisSchema(await buildPortcullisSchema(createPubSub())));
console.error(`wrote ${target}`);
