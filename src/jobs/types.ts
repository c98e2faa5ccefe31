import type { JobState } from '../db/schema.js';

export type { JobState };
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/** A durable unit of work. `error` is the JSON of an ErrorBody ({code, message, hint?}). */
export interface Job<P = unknown, R = unknown> {
  id: number;
  kind: string;
  state: JobState;
  payload: P;
  result: R | null;
  error: string | null;
  progressDone: number;
  progressTotal: number;
  /** Claims so far, including the current one. */
  attempts: number;
  maxAttempts: number;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  /** Not claimable before this time (backoff after a failure, or a scheduled start). */
  runAfter: string;
  createdAt: string;
  updatedAt: string;
}

export interface JobProgress {
  done: number;
  total: number;
}
