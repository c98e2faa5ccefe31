import { copyBytes } from './byte-copy.js';
import { GEAR_SCAN_WASM } from './gear-scan.wasm.js';

/**
 * The gear loop of the chunker in WebAssembly (source: gear-scan.wat). The JavaScript loop
 * runs at ~0.3-0.5 GB/s here; this one is the chunker's hot path. Each pushed buffer is
 * copied once into the module's memory, then scanned in place.
 */
export type GearScan = (i: number, endS: number, endL: number, maskS: number, maskL: number) => number;

const DATA_OFFSET = 1024;
const PAGE = 65536;

/** The little of the WebAssembly API this uses (the ES lib we compile against omits it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmGlobal {
  value: unknown;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
const MODULE = new Wasm.Module(Buffer.from(GEAR_SCAN_WASM, 'base64'));

export class WasmGearScanner {
  private readonly memory: WasmMemory;
  private readonly hash: WasmGlobal;
  readonly scan: GearScan;

  constructor(gear: Int32Array) {
    const instance = new Wasm.Instance(MODULE, {});
    const exports = instance.exports as { memory: WasmMemory; h: WasmGlobal; scan: GearScan };
    this.memory = exports.memory;
    this.hash = exports.h;
    this.scan = exports.scan;
    // Little-endian on every platform wasm runs on, like the module's i32.load.
    const table = new DataView(this.memory.buffer, 0, DATA_OFFSET);
    for (let i = 0; i < 256; i++) table.setInt32(i * 4, gear[i] as number, true);
  }

  /** Makes `data` the buffer that `scan` indexes. */
  load(data: Uint8Array): void {
    const need = DATA_OFFSET + data.length;
    const have = this.memory.buffer.byteLength;
    if (need > have) this.memory.grow(Math.ceil((need - have) / PAGE));
    copyBytes(new Uint8Array(this.memory.buffer), DATA_OFFSET, data);
  }

  get h(): number {
    return this.hash.value as number;
  }

  set h(value: number) {
    this.hash.value = value;
  }
}
