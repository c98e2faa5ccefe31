// Regenerates docs/cli.md from the command definitions (`npm run docs`).
import { writeFileSync } from 'node:fs';
import { renderCliReference } from '../src/cli/reference.js';
import { buildProgram } from '../src/main/cli.js';

writeFileSync(new URL('../docs/cli.md', import.meta.url), renderCliReference(buildProgram()));
process.stdout.write('wrote docs/cli.md\n');
