import { describe, expect, it } from 'vitest';
import { describeFilter, filterMatches, type ImageFacts, parseFilter } from './filters.js';

const OWN = 'a'.repeat(64);
const base: ImageFacts = {
  name: 'DB_2',
  originKeyId: 'a'.repeat(64),
  imageType: 'DBHOME',
  state: 'PUBLISHED',
  private: false,
  ancestors: ['DB_1', 'DB_0'],
  series: ['DB19'],
};

describe('instantiation filters', () => {
  it('match by all, descendants, series and type', () => {
    expect(filterMatches(parseFilter({ all: true }), OWN, base)).toBe(true);
    expect(filterMatches(parseFilter({ image: 'DB_0' }), OWN, base)).toBe(true);
    expect(filterMatches(parseFilter({ image: 'DB_2' }), OWN, base)).toBe(false);
    expect(filterMatches(parseFilter({ image: 'OTHER' }), OWN, base)).toBe(false);
    expect(filterMatches(parseFilter({ series: 'DB19' }), OWN, base)).toBe(true);
    expect(filterMatches(parseFilter({ series: 'DB21' }), OWN, base)).toBe(false);
    expect(filterMatches(parseFilter({ imagetype: 'DBHOME' }), OWN, base)).toBe(true);
    expect(filterMatches(parseFilter({ imagetype: 'GIHOME' }), OWN, base)).toBe(false);
  });

  it('never match replicas, private images or another state', () => {
    const all = parseFilter({ all: true });
    expect(filterMatches(all, OWN, { ...base, originKeyId: 'b'.repeat(64) })).toBe(false);
    expect(filterMatches(all, OWN, { ...base, originKeyId: null })).toBe(false);
    expect(filterMatches(all, OWN, { ...base, private: true })).toBe(false);
    expect(filterMatches(all, OWN, { ...base, state: 'TESTABLE' })).toBe(false);
    const testable = parseFilter({ all: true, state: 'testable' });
    expect(filterMatches(testable, OWN, { ...base, state: 'TESTABLE' })).toBe(true);
    expect(filterMatches(testable, OWN, { ...base, state: 'TESTABLE', private: true })).toBe(false);
  });

  it('take exactly one selector with a valid name', () => {
    expect(() => parseFilter({})).toThrow(/exactly one/);
    expect(() => parseFilter({ all: true, series: 'S' })).toThrow(/exactly one/);
    expect(() => parseFilter({ series: '../x' })).toThrow(expect.objectContaining({ code: 'INVALID_NAME' }));
    expect(() => parseFilter({ all: true, state: 'GONE' })).toThrow(/state/);
    expect(describeFilter(parseFilter({ series: 'DB19', state: 'TESTABLE' }))).toBe(
      '--series DB19 --state TESTABLE',
    );
  });
});
