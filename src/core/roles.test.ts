import { describe, expect, it } from 'vitest';
import { parseLifetime, parseRole, roleAllows } from './roles.js';

describe('roles', () => {
  it('each allows what the one before it does', () => {
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'reader')).toBe(true);
    expect(roleAllows('operator', 'admin')).toBe(false);
    expect(roleAllows('reader', 'operator')).toBe(false);
    expect(() => parseRole('root')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('reads lifetimes with a unit, within ten years', () => {
    expect(parseLifetime('30d')).toBe(30 * 86_400);
    expect(parseLifetime('12h')).toBe(12 * 3600);
    expect(parseLifetime('90m')).toBe(90 * 60);
    expect(parseLifetime('2w')).toBe(14 * 86_400);
    for (const bad of ['30', '0d', '-1d', '1y', '3651d', 'd']) {
      expect(() => parseLifetime(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
