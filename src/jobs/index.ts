/**
 * jobs: the durable queue (rows with leases, retries, backoff) and the worker loop.
 * The queue imports core and db only; the handlers in handlers/ (verify, gc, local ingest)
 * also drive catalog, store and transfer's uploader. They are wired in main/.
 */
export { type EnqueueOptions, errorText, JobQueue, type JobQueueOptions } from './job-queue.js';
export {
  type JobContext,
  type JobHandler,
  type JobOutcome,
  type JobRunner,
  type JobRunnerOptions,
  startJobRunner,
} from './job-runner.js';
export { JOB_STATES, type Job, type JobProgress, type JobState } from './types.js';
