import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { ReceiveCounter } from '../transfer/chunk-receiver.js';

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
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ingot_process_' });
  const registers = [registry];
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
    jobsFinished: new Counter({
      name: 'ingot_jobs_finished_total',
      help: 'Jobs finished by kind and final state',
      labelNames: ['kind', 'state'],
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

/** Feeds the chunk counters from any receiver (ingest, peer push, pull). */
export function receiveCounter(metrics: Metrics): ReceiveCounter {
  return (result, n, storedBytes) => {
    if (n > 0) metrics.chunksReceived.inc({ result }, n);
    if (storedBytes > 0) metrics.chunkBytesStored.inc(storedBytes);
  };
}
