// Regenerates the documents that are derived from code (`npm run docs`):
// docs/cli.md from the command definitions, docs/openapi.json from a real server's routes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderCliReference } from '../src/cli/reference.js';
import { buildProgram } from '../src/main/cli.js';
import { startServer } from '../src/main/serve.js';

const docs = (name: string) => new URL(`../docs/${name}`, import.meta.url);

writeFileSync(docs('cli.md'), renderCliReference(buildProgram()));

const home = mkdtempSync(join(tmpdir(), 'ingot-docs-'));
const server = await startServer({ home, name: 'docs', listen: '127.0.0.1:0', logLevel: 'warn' });
try {
  const res = await fetch(`${server.url}/openapi.json`);
  writeFileSync(docs('openapi.json'), `${JSON.stringify(await res.json(), null, 2)}\n`);
} finally {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
}
process.stdout.write('wrote docs/cli.md and docs/openapi.json\n');
