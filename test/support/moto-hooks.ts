import { afterAll, beforeAll } from 'vitest';
import { type RunningMoto, startMoto } from './moto.js';

/**
 * One moto for a test file: started before its tests, with its credentials in process.env
 * (what the SDK reads), stopped after. Call at the top level; the result is read in tests.
 */
export function useMoto(): () => RunningMoto {
  let moto: RunningMoto | undefined;
  beforeAll(async () => {
    moto = await startMoto();
    Object.assign(process.env, moto.credentials);
  });
  afterAll(async () => {
    await moto?.stop();
  });
  return () => {
    if (!moto) throw new Error('moto is not running');
    return moto;
  };
}
