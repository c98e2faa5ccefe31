import wabt from 'wabt';

/** WAT text to a wasm binary, deterministic (no names section). */
export async function compileGearScan(wat: string): Promise<Uint8Array> {
  const w = await wabt();
  const mod = w.parseWat('gear-scan.wat', wat);
  try {
    mod.validate();
    return mod.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    mod.destroy();
  }
}
