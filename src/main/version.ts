import { readFileSync } from 'node:fs';

interface PackageJson {
  version: string;
  dependencies: Record<string, string>;
}

/** package.json, read once (two levels up from src/ and dist/). */
const PACKAGE: PackageJson = (() => {
  try {
    const url = new URL('../../package.json', import.meta.url);
    return JSON.parse(readFileSync(url, 'utf8')) as PackageJson;
  } catch {
    return { version: '0.0.0', dependencies: {} };
  }
})();

/** The package version. */
export const VERSION: string = PACKAGE.version;
/** The running release's dependencies: a roll reuses its node_modules for a release that needs the same. */
export const DEPENDENCIES: Readonly<Record<string, string>> = PACKAGE.dependencies ?? {};
