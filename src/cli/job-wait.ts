import { type ErrorCode, IngotError, isErrorCode } from '../core/errors.js';
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

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * Polls a job until it ends; a failed job becomes an error carrying the job's reason. The
 * first polls come quickly and then ever slower up to `pollMs`: most jobs a command waits
 * for end within a second (a pull of an image already held: 0.51 s with a fixed 200 ms
 * poll, 0.31 s so), and a long one needs no more than a few looks a second.
 */
export async function waitForJob(
  client: ApiClient,
  id: number,
  onProgress?: (job: JobView) => void | Promise<void>,
  pollMs = 250,
): Promise<JobView> {
  for (let wait = FIRST_POLL_MS; ; wait = Math.min(pollMs, wait * 2)) {
    const job = await client.json<JobView>('GET', `/api/v1/jobs/${id}`);
    await onProgress?.(job);
    if (FINAL.has(job.state)) {
      if (job.state === 'succeeded') return job;
      const parsed = parseJobError(job.error);
      throw new IngotError(parsed.code, `job ${id} (${job.kind}) ${job.state}: ${parsed.message}`, {
        details: { job: id },
        ...(parsed.hint ? { hint: parsed.hint } : {}),
      });
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

const FIRST_POLL_MS = 20;

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
