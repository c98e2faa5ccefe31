import { statfs } from 'node:fs/promises';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ImageState } from '../core/states.js';
import type { Compaction } from '../store/chunk-store.js';
import type { ReceiveCounter } from '../transfer/chunk-receiver.js';
import type { TransferDirection } from '../transfer/transfer.repository.js';

/** What the gauges read at each scrape: the figures are the store's and the database's, never a copy. */
export interface GaugeSources {
  /** The chunk store's totals: chunks indexed, bytes of its files on disk. */
  readonly store: () => { readonly chunks: number; readonly bytes: number };
  /** A directory of the store: free space is that of its file system. */
  readonly storeRoot: string;
  readonly imagesByState: () => Promise<Record<ImageState, number>>;
  readonly transfersRunning: () => Promise<Record<TransferDirection, number>>;
}

/** Prometheus metrics of one server process, served at /metrics. */
export interface Metrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly chunksReceived: Counter<'result'>;
  readonly chunkBytesStored: Counter;
  readonly chunksServed: Counter;
  readonly imagesCommitted: Counter;
  readonly jobsFinished: Counter<'kind' | 'state'>;
  readonly peerBytes: Counter<'peer' | 'direction'>;
  /** Scheduler ticks that ran the singleton work (the leader's only). */
  readonly leaderTicks: Counter;
  readonly segmentsRewritten: Counter;
  readonly compactionBytes: Counter<'kind'>;
  /** Seconds of each phase of the transfers this node ran (offer, parts, plan, data, commit). */
  readonly transferPhases: Histogram<'phase'>;
}

export function createMetrics(sources: GaugeSources): Metrics {
  const registry = new Registry();
  // Node's own metrics are named process_* and nodejs_*: ingot_process_cpu_seconds_total.
  collectDefaultMetrics({ register: registry, prefix: 'ingot_' });
  const registers = [registry];
  createGauges(sources, registers);
  return {
    registry,
    httpDuration: new Histogram({
      name: 'ingot_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.02, 0.1, 0.5, 2, 10, 60],
      registers,
    }),
    chunksReceived: new Counter({
      name: 'ingot_chunks_received_total',
      help: 'Chunks received for storage, by result (stored, present, rejected)',
      labelNames: ['result'],
      registers,
    }),
    chunkBytesStored: new Counter({
      name: 'ingot_chunk_bytes_stored_total',
      help: 'Bytes newly written to the chunk store (encoded)',
      registers,
    }),
    chunksServed: new Counter({
      name: 'ingot_chunks_served_total',
      help: 'Chunks sent to clients',
      registers,
    }),
    imagesCommitted: new Counter({
      name: 'ingot_images_committed_total',
      help: 'Images committed',
      registers,
    }),
    leaderTicks: new Counter({
      name: 'ingot_leader_ticks_total',
      help: 'Scheduler ticks this node ran the singleton work in, as the leader (sync scheduler, retention, dead-node reaping)',
      registers,
    }),
    jobsFinished: new Counter({
      name: 'ingot_jobs_finished_total',
      help: 'Jobs finished by kind and final state',
      labelNames: ['kind', 'state'],
      registers,
    }),
    segmentsRewritten: new Counter({
      name: 'ingot_store_segments_rewritten_total',
      help: 'Partly dead segments (or packs) whose live chunks gc copied into new ones',
      registers,
    }),
    compactionBytes: new Counter({
      name: 'ingot_store_compaction_bytes_total',
      help: 'Bytes gc compaction wrote (rewritten) and removed (reclaimed); the store shrank by their difference',
      labelNames: ['kind'],
      registers,
    }),
    transferPhases: new Histogram({
      name: 'ingot_transfer_phase_seconds',
      help: 'Seconds each phase of a transfer run here took (offer, parts, plan, data, commit), per succeeded transfer',
      labelNames: ['phase'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    }),
    peerBytes: new Counter({
      name: 'ingot_peer_wire_bytes_total',
      help: 'Chunk-stream bytes exchanged with peers, by peer and direction (sent, received)',
      labelNames: ['peer', 'direction'],
      registers,
    }),
  };
}

function createGauges(sources: GaugeSources, registers: Registry[]): void {
  new Gauge({
    name: 'ingot_store_chunks',
    help: 'Chunks in the chunk store',
    registers,
    collect() {
      this.set(sources.store().chunks);
    },
  });
  new Gauge({
    name: 'ingot_store_bytes',
    help: "Bytes of the chunk store's files on disk (live and not yet compacted records)",
    registers,
    collect() {
      this.set(sources.store().bytes);
    },
  });
  new Gauge({
    name: 'ingot_store_free_bytes',
    help: "Bytes free to the server on the chunk store's file system",
    registers,
    async collect() {
      const fs = await statfs(sources.storeRoot);
      this.set(fs.bavail * fs.bsize);
    },
  });
  new Gauge({
    name: 'ingot_images',
    help: 'Listed images (own and replicas) by state',
    labelNames: ['state'],
    registers,
    async collect() {
      for (const [state, n] of Object.entries(await sources.imagesByState())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'ingot_transfers_running',
    help: 'Transfers to and from peers running now, by direction (push, pull)',
    labelNames: ['direction'],
    registers,
    async collect() {
      for (const [direction, n] of Object.entries(await sources.transfersRunning()))
        this.set({ direction }, n);
    },
  });
}

/** Feeds the chunk counters from any receiver (ingest, peer push, pull). */
export function receiveCounter(metrics: Metrics): ReceiveCounter {
  return (result, n, storedBytes) => {
    if (n > 0) metrics.chunksReceived.inc({ result }, n);
    if (storedBytes > 0) metrics.chunkBytesStored.inc(storedBytes);
  };
}

/** Counts what one gc compaction did. */
export function countCompaction(metrics: Metrics, c: Compaction): void {
  metrics.segmentsRewritten.inc(c.segmentsRewritten);
  metrics.compactionBytes.inc({ kind: 'rewritten' }, c.bytesRewritten);
  metrics.compactionBytes.inc({ kind: 'reclaimed' }, c.bytesReclaimed);
}

/**
 * What the job runner reports as each job ends: counted by kind and outcome, and a
 * transfer's result (its `phases`) observed phase by phase.
 */
export function jobMetrics(
  metrics: Metrics,
): (job: { readonly kind: string }, outcome: string, result?: unknown) => void {
  return (job, outcome, result) => {
    metrics.jobsFinished.inc({ kind: job.kind, state: outcome });
    const phases = (result as { phases?: unknown } | undefined)?.phases;
    if (!phases || typeof phases !== 'object') return;
    for (const [phase, seconds] of Object.entries(phases)) {
      if (typeof seconds === 'number' && Number.isFinite(seconds))
        metrics.transferPhases.observe({ phase }, seconds);
    }
  };
}
