import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileGearScan } from '../../scripts/wasm-compile.js';
import { Chunker, DEFAULT_CHUNKER_PARAMS } from './chunker.js';
import { GEAR_SCAN_WASM } from './gear-scan.wasm.js';

function cuts(engine: 'wasm' | 'js', data: Buffer, step: number, params = DEFAULT_CHUNKER_PARAMS): number[] {
  const c = new Chunker(params, { engine });
  const lengths: number[] = [];
  for (let o = 0; o < data.length; o += step)
    for (const ch of c.push(data.subarray(o, o + step))) lengths.push(ch.length);
  const last = c.finish();
  if (last) lengths.push(last.length);
  return lengths;
}

describe('WebAssembly gear loop', () => {
  it('cuts exactly where the JavaScript reference does, whatever the buffer sizes', () => {
    const data = randomBytes(6 * 1024 * 1024);
    const reference = cuts('js', data, 1 << 20);
    for (const step of [1 << 20, 4096, 300_001, 8 << 20]) expect(cuts('wasm', data, step)).toEqual(reference);
    const small = { min: 1024, avg: 4096, max: 16384 };
    expect(cuts('wasm', data, 65_536, small)).toEqual(cuts('js', data, 65_536, small));
  });

  it('is the compiled form of gear-scan.wat (run `npm run build:wasm` after editing it)', async () => {
    const wat = readFileSync(new URL('./gear-scan.wat', import.meta.url), 'utf8');
    expect(Buffer.from(await compileGearScan(wat)).toString('base64')).toBe(GEAR_SCAN_WASM);
  });
});
