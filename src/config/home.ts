import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** INGOT_HOME holds one server's data, configuration and token; default ~/.ingot. */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.INGOT_HOME?.trim();
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.ingot');
}
