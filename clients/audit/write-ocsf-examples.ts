import { writeFileSync } from 'node:fs';
import { renderOcsfExamples } from './ocsf-examples.js';

writeFileSync('docs/ocsf-examples.md', renderOcsfExamples());
console.error('wrote docs/ocsf-examples.md');
