import { describe, expect, it } from 'vitest';
import { filterBody, parseDescribed } from './filters.js';

describe('filters', () => {
  it('reads back what the server says a filter is', () => {
    expect(parseDescribed('--all')).toEqual({ kind: 'all', value: '', state: 'PUBLISHED' });
    expect(parseDescribed('--imagetype DISKIMAGE --state TESTABLE')).toEqual({
      kind: 'imagetype',
      value: 'DISKIMAGE',
      state: 'TESTABLE',
    });
    for (const bad of ['', '--all X', '--series', '--colour red', 'series DB19'])
      expect(parseDescribed(bad)).toBeUndefined();
  });

  it('makes the body the API takes, PUBLISHED left to the default', () => {
    expect(filterBody({ kind: 'all', value: 'ignored', state: 'PUBLISHED' })).toEqual({ all: true });
    expect(filterBody({ kind: 'series', value: ' DB19 ', state: 'TESTABLE' })).toEqual({
      series: 'DB19',
      state: 'TESTABLE',
    });
    const back = parseDescribed('--image DB19_BASE');
    expect(back && filterBody(back)).toEqual({ image: 'DB19_BASE' });
  });
});
