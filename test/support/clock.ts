import type { Clock } from '../../src/core/clock.js';

/** A clock the test moves: leases, deaths and drain times are decided by time alone. */
export function movableClock(): Clock & { advance(ms: number): void } {
  let t = Date.parse('2026-01-01T00:00:00Z');
  return {
    now: () => new Date(t),
    advance: (ms) => {
      t += ms;
    },
  };
}
