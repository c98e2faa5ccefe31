import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../core/errors.js';
import { buildProgram } from '../main/cli.js';
import { renderCliReference } from './reference.js';

describe('CLI reference', () => {
  it('docs/cli.md is what the command definitions render (run `npm run docs` after a change)', () => {
    const committed = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderCliReference(buildProgram()));
  });

  it('lists every error code with its exit code', () => {
    const doc = renderCliReference(buildProgram());
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(doc).toContain(`| \`${code}\` | ${spec.exit} | ${spec.http} |`);
    }
  });

  it('gives every command a description', () => {
    const walk = (c: ReturnType<typeof buildProgram>): ReturnType<typeof buildProgram>[] =>
      c.commands.flatMap((x) => [x, ...walk(x)]);
    for (const cmd of walk(buildProgram())) {
      expect(cmd.description(), cmd.name()).not.toBe('');
    }
  });
});
