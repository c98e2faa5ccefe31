/** The catalog's refusals, worded once so every caller gives the same message and hint. */
import { IngotError } from '../core/errors.js';

export function imageNotFound(name: string, what = 'image'): IngotError {
  return new IngotError('NOT_FOUND', `${what} ${name} does not exist`, {
    hint: 'list images with: ingot image list',
  });
}

export function imageExists(name: string): IngotError {
  return new IngotError('ALREADY_EXISTS', `an image named ${name} already exists`, {
    hint: 'image names are unique and images immutable: choose a new name (e.g. a version suffix)',
  });
}

export function typeNotFound(name: string): IngotError {
  return new IngotError('NOT_FOUND', `image type ${name} does not exist`, {
    hint: `create it with: ingot imagetype add ${name} --basetype SOFTWARE`,
  });
}

export function typeExists(name: string): IngotError {
  return new IngotError('ALREADY_EXISTS', `image type ${name} already exists`, {
    hint: 'list image types with: ingot imagetype list',
  });
}

export function seriesNotFound(name: string): IngotError {
  return new IngotError('NOT_FOUND', `series ${name} does not exist`, {
    hint: `create it with: ingot series add ${name}`,
  });
}
