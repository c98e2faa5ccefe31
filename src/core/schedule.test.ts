import { describe, expect, it } from 'vitest';
import {
  formatWindow,
  inWindow,
  nextOpening,
  parseDuration,
  parseInterval,
  parseWindow,
} from './schedule.js';

const at = (h: number, m: number) => new Date(2026, 10, 23, h, m, 30);

describe('schedules', () => {
  it('parses intervals', () => {
    expect(parseInterval('15m')).toBe(900);
    expect(parseInterval('30')).toBe(30);
    expect(parseInterval('2h')).toBe(7200);
    expect(() => parseInterval('0s')).toThrow(/invalid duration/);
    expect(() => parseInterval('soon')).toThrow(/invalid duration/);
  });

  it('parses durations, 0 included, and refuses others as INVALID_ARGUMENT', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('1d')).toBe(86400);
    expect(() => parseDuration('5x')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('knows when a window is open, wrapping past midnight', () => {
    const night = parseWindow('22:00-06:00');
    expect(formatWindow(night)).toBe('22:00-06:00');
    expect(inWindow(night, at(23, 0))).toBe(true);
    expect(inWindow(night, at(3, 0))).toBe(true);
    expect(inWindow(night, at(6, 0))).toBe(false);
    expect(inWindow(night, at(12, 0))).toBe(false);
    const day = parseWindow('09:30-17:00');
    expect(inWindow(day, at(9, 30))).toBe(true);
    expect(inWindow(day, at(17, 0))).toBe(false);
  });

  it('finds the next opening', () => {
    const night = parseWindow('22:00-06:00');
    expect(nextOpening(night, at(12, 0))).toEqual(new Date(2026, 10, 23, 22, 0, 0));
    expect(nextOpening(night, at(23, 0))).toEqual(at(23, 0));
    const early = parseWindow('01:00-02:00');
    expect(nextOpening(early, at(12, 0))).toEqual(new Date(2026, 10, 24, 1, 0, 0));
  });

  it('refuses bad windows', () => {
    expect(() => parseWindow('25:00-06:00')).toThrow(/invalid window/);
    expect(() => parseWindow('10:00-10:00')).toThrow(/empty/);
    expect(() => parseWindow('evening')).toThrow(/invalid window/);
  });
});
