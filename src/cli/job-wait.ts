import { type ErrorCode, IngotError, isErrorCode } from '../core/errors.js';
import { isFinalJobState } from '../core/states.js';
import type { ApiClient } from '../transfer/http-client.js';
import { createProgress, type ProgressMode } from './progress.js';

export interface JobView {
  id: number;
  kind: string;
  state: string;
  progressDone: number;
  progressTotal: number;
  attempts: number;
  maxAttempts: number;
  error: string | null;
  result: unknown;
  createdAt: string;
  updatedAt: string;
}

/**
 * Follows a job until it ends; a failed job becomes an error carrying the job's reason. The
 * server holds each answer until the job changes (GET /api/v1/jobs/:id?wait), so the end is
 * seen at once and progress as it is recorded. A server that answers at once with nothing
 * changed (one without `wait`) is polled instead, quickly at first and then ever slower up
 * to `pollMs`.
 */
export async function waitForJob(
  client: ApiClient,
  id: number,
  onProgress?: (job: JobView) => void | Promise<void>,
  pollMs = 250,
): Promise<JobView> {
  let seen: string | undefined;
  for (let wait = FIRST_POLL_MS; ; wait = Math.min(pollMs, wait * 2)) {
    const asked = Date.now();
    const query = seen === undefined ? '' : `?wait=${HOLD_SECONDS}&since=${encodeURIComponent(seen)}`;
    const job = await client.json<JobView>('GET', `/api/v1/jobs/${id}${query}`);
    await onProgress?.(job);
    if (isFinalJobState(job.state)) {
      if (job.state === 'succeeded') return job;
      const parsed = parseJobError(job.error);
      throw new IngotError(parsed.code, `job ${id} (${job.kind}) ${job.state}: ${parsed.message}`, {
        details: { job: id },
        ...(parsed.hint ? { hint: parsed.hint } : {}),
      });
    }
    const held = job.updatedAt !== seen || Date.now() - asked >= HOLD_SECONDS * 500;
    seen = job.updatedAt;
    if (!held) await new Promise((r) => setTimeout(r, wait));
  }
}

const FIRST_POLL_MS = 20;
/** How long the server may hold an answer: progress shows at least this often. */
const HOLD_SECONDS = 1;

/** Waits for a job with a progress line made of the job's own progress figures. */
export async function followJob(
  client: ApiClient,
  id: number,
  label: string,
  mode: ProgressMode,
  unit: 'bytes' | 'chunks' = 'bytes',
): Promise<JobView> {
  const progress = createProgress(label, 0, { mode, unit });
  try {
    return await waitForJob(client, id, (j) => progress.update(j.progressDone, j.progressTotal));
  } finally {
    progress.stop();
  }
}

/** Job errors are stored as the error body JSON when they were IngotErrors; codes survive. */
function parseJobError(text: string | null): {
  code: ErrorCode;
  message: string;
  hint?: string;
} {
  if (!text) return { code: 'INTERNAL', message: 'no reason recorded' };
  try {
    const body = JSON.parse(text) as { code?: string; message?: string; hint?: string };
    return {
      code: isErrorCode(body.code) ? body.code : 'INTERNAL',
      message: body.message ?? text,
      ...(body.hint ? { hint: body.hint } : {}),
    };
  } catch {
    return { code: 'INTERNAL', message: text };
  }
}
