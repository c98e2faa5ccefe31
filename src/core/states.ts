import { IngotError } from './errors.js';

/** FPP's image states. Only PUBLISHED images are offered to other servers by default. */
export const IMAGE_STATES = ['TESTABLE', 'RESTRICTED', 'PUBLISHED'] as const;
export type ImageState = (typeof IMAGE_STATES)[number];

export function parseImageState(value: unknown): ImageState {
  const v = typeof value === 'string' ? value.toUpperCase() : value;
  if (!IMAGE_STATES.includes(v as ImageState)) {
    throw new IngotError('INVALID_ARGUMENT', `invalid image state ${JSON.stringify(value)}`, {
      hint: `use one of ${IMAGE_STATES.join(', ')}`,
    });
  }
  return v as ImageState;
}

/** A job in one of these states never changes again (server and CLI agree on it). */
export function isFinalJobState(state: string): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}
