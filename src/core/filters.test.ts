import { describe, expect, it } from 'vitest';
import { describeFilter, filterMatches, type ImageFacts, parseFilter } from './filters.js';

const base: ImageFacts = {
  name: 'DB_2',
  origin: 'FPPS_2',
  imageType: 'DBHOME',
  state: 'PUBLISHED',
  private: false,
  ancestors: ['DB_1', 'DB_0'],
  series: ['DB19'],
};

describe('instantiation filters', () => {
  it('match by all, descendants, series and type', () => {
    expect(filterMatches(parseFilter({ all: true }), 'FPPS_2', base)).toBe(true);
    expect(filterMatches(parseFilter({ image: 'DB_0' }), 'FPPS_2', base)).toBe(true);
    expect(filterMatches(parseFilter({ image: 'DB_2' }), 'FPPS_2', base)).toBe(false);
    expect(filterMatches(parseFilter({ image: 'OTHER' }), 'FPPS_2', base)).toBe(false);
    expect(filterMatches(parseFilter({ series: 'DB19' }), 'FPPS_2', base)).toBe(true);
    expect(filterMatches(parseFilter({ series: 'DB21' }), 'FPPS_2', base)).toBe(false);
    expect(filterMatches(parseFilter({ imagetype: 'DBHOME' }), 'FPPS_2', base)).toBe(true);
    expect(filterMatches(parseFilter({ imagetype: 'GIHOME' }), 'FPPS_2', base)).toBe(false);
  });

  it('never match replicas, private images or another state', () => {
    const all = parseFilter({ all: true });
    expect(filterMatches(all, 'FPPS_2', { ...base, origin: 'FPPS_3' })).toBe(false);
    expect(filterMatches(all, 'FPPS_2', { ...base, private: true })).toBe(false);
    expect(filterMatches(all, 'FPPS_2', { ...base, state: 'TESTABLE' })).toBe(false);
    const testable = parseFilter({ all: true, state: 'testable' });
    expect(filterMatches(testable, 'FPPS_2', { ...base, state: 'TESTABLE' })).toBe(true);
    expect(filterMatches(testable, 'FPPS_2', { ...base, state: 'TESTABLE', private: true })).toBe(false);
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
