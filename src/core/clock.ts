/** Time is injected so tests can move it; nothing else in Ingot should call `new Date()` for logic. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
