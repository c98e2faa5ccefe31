// Compiles src/store/gear-scan.wat into src/store/gear-scan.wasm.ts (`npm run build:wasm`).
import { readFileSync, writeFileSync } from 'node:fs';
import { compileGearScan } from './wasm-compile.js';

const wat = readFileSync(new URL('../src/store/gear-scan.wat', import.meta.url), 'utf8');
const base64 = Buffer.from(await compileGearScan(wat)).toString('base64');
writeFileSync(
  new URL('../src/store/gear-scan.wasm.ts', import.meta.url),
  `// Generated from gear-scan.wat by \`npm run build:wasm\`; a test checks it is current.\nexport const GEAR_SCAN_WASM = '${base64}';\n`,
);
process.stdout.write('wrote src/store/gear-scan.wasm.ts\n');
