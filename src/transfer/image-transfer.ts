import { DigestTable } from '../core/digest-table.js';
import { deltaPicker, moveChunks } from './chunk-lanes.js';
import { type ChunkSet, offerChunks } from './chunk-sets.js';
import {
  type ImageOffer,
  type ImageSink,
  type ImageSource,
  NO_PROGRESS,
  type OfferMeta,
  type SinkStatus,
  type TransferOptions,
  type TransferPhases,
  type TransferProgress,
  type TransferResult,
} from './image-sides.js';

/**
 * Moving one image between servers: the same code for push (the origin dials out), pull
 * (the receiver dials out) and, later, bundles. The sink checks the offer before any chunk
 * moves; then batches of digests go round the have/want question on several streams at
 * once, only the missing chunks travel (rate-capped), the sink verifies and stores each,
 * and the image is committed when the last one lands. A rerun after any interruption asks
 * again, so chunks already verified and stored are never sent twice. Where the receiver
 * holds a base image the sender has too (the new image's parent, say), a missing chunk
 * travels as a delta against the base's chunk in its place (delta-references.ts).
 */

export async function transferImage(
  source: ImageSource,
  sink: ImageSink,
  name: string,
  opts: TransferOptions = {},
): Promise<TransferResult> {
  const phases = { offer: 0, parts: 0, plan: 0, data: 0, commit: 0 };
  const lap = phaseClock(phases);
  const offer = await source.offer(name);
  const moved = await moveImage(source, sink, offer, opts, lap);
  // The image's chunk sets are out of scope by now: the commit checks the image with a
  // table of its own, and two tables of every chunk would double a large image's memory.
  const status = moved.present ? 'present' : await sink.commit(offer);
  lap('commit');
  const result: TransferResult = {
    ...moved.progress,
    outcome: status === 'present' ? 'present' : 'created',
    digest: offer.digest,
    phases,
  };
  await source.done?.(result);
  return result;
}

async function moveImage(
  source: ImageSource,
  sink: ImageSink,
  offer: ImageOffer,
  opts: TransferOptions,
  lap: (phase: keyof TransferPhases) => void,
): Promise<{ progress: TransferProgress; present: boolean }> {
  const { parts, data } = await offerChunks(source, offer);
  const progress = { ...NO_PROGRESS, bytesTotal: data.bytes, chunksTotal: data.size };
  const status = await sink.prepare(offer);
  lap('offer');
  if (status === 'present') {
    return {
      progress: { ...progress, bytesDone: progress.bytesTotal, bytesPresent: progress.bytesTotal },
      present: true,
    };
  }
  // Parts first: a receiver learns from them which data chunks the image names. They are
  // the manifest, not the image: counted on the wire, not in the image's bytes.
  const partProgress = { ...NO_PROGRESS };
  await moveChunks(source, sink, parts, partProgress, { ...opts, onProgress: undefined });
  progress.wireBytes = partProgress.wireBytes;
  lap('parts');
  // A sink that checks its room answers the have/want question once, before the move,
  // and the move takes those answers (the chunks it holds were touched by that pass).
  const lacking = sink.room ? await lackingOf(sink, data) : undefined;
  if (lacking) await sink.room?.(lacking.bytes);
  const picker = await deltaPicker(source, sink, offer);
  // The manifest's check starts once the first data request is out, filling the wait for it.
  const onRequested = sink.checkAhead && (() => sink.checkAhead?.(offer));
  lap('plan');
  await moveChunks(source, sink, data, progress, opts, { picker, lacking, onRequested });
  lap('data');
  return { progress, present: false };
}

/** Adds the seconds since the last lap to a phase. */
function phaseClock(phases: TransferPhases): (phase: keyof TransferPhases) => void {
  let last = performance.now();
  return (phase) => {
    const now = performance.now();
    phases[phase] += Math.round(now - last) / 1000;
    last = now;
  };
}

/** The data chunks the sink lacks, with their raw bytes: one have/want pass, nothing moved. */
async function lackingOf(sink: ImageSink, data: ChunkSet): Promise<DigestTable> {
  const lacking = new DigestTable();
  for await (const batch of data.batches())
    for (const d of await sink.missing(batch)) lacking.add(d, data.lengthOf(d));
  return lacking;
}

export interface ImagePlan {
  readonly meta: OfferMeta;
  readonly status: SinkStatus;
  readonly bytesTotal: number;
  /** Raw bytes of this image's chunks the receiver lacks. */
  readonly bytesMissing: number;
  readonly chunksMissing: number;
  /** Of those, how many would travel as deltas. */
  readonly chunksDelta: number;
  /** Chunk-stream bytes moving them would take (null: the sender cannot say, an older peer). */
  readonly wireBytes: number | null;
}

export interface TransferPlan {
  readonly images: ImagePlan[];
  readonly bytesMissing: number;
  readonly chunksMissing: number;
  /** Chunks shared between the images counted once; null when any image's is. */
  readonly wireBytes: number | null;
}

/**
 * What moving these images would cost, before anything moves: per image, and in total
 * with chunks shared between them counted once (v2 after v1 costs only its own chunks).
 * The wire bytes are the sender's own count of what it would send, deltas included.
 */
export async function planTransfers(
  source: ImageSource,
  sink: ImageSink,
  names: readonly string[],
): Promise<TransferPlan> {
  const images: ImagePlan[] = [];
  const counted = new DigestTable();
  let wireTotal: number | null = 0;
  for (const name of names) {
    const offer = await source.offer(name);
    const { parts, data } = await offerChunks(source, offer);
    const { manifest: _bytes, ...meta } = offer;
    const status = await sink.prepare(offer);
    const own: { bytes: number; chunks: number; deltas: number; wire: number | null } = {
      bytes: 0,
      chunks: 0,
      deltas: 0,
      wire: 0,
    };
    if (status === 'needed') {
      // A receiver answers for data only once it holds the parts that name it: a dry run
      // moves those (the manifest, a small fraction of the image) before asking.
      await moveChunks(source, sink, parts, { ...NO_PROGRESS }, {});
      const picker = await deltaPicker(source, sink, offer);
      for await (const batch of data.batches()) {
        const wanted = await sink.missing(batch);
        const references = picker?.pick(batch, new Set(wanted));
        const sizes = await source.wireSizes?.(wanted, references);
        if (!sizes) own.wire = null;
        for (const [i, d] of wanted.entries()) {
          own.bytes += data.lengthOf(d);
          own.chunks++;
          if (sizes?.[i]?.delta) own.deltas++;
          const size = sizes?.[i]?.bytes ?? 0;
          if (own.wire !== null) own.wire += size;
          if (counted.add(d, data.lengthOf(d)) && wireTotal !== null) wireTotal += size;
        }
      }
    }
    if (own.wire === null) wireTotal = null;
    images.push({
      meta,
      status,
      bytesTotal: data.bytes,
      bytesMissing: own.bytes,
      chunksMissing: own.chunks,
      chunksDelta: own.deltas,
      wireBytes: own.wire,
    });
  }
  return { images, bytesMissing: counted.bytes, chunksMissing: counted.size, wireBytes: wireTotal };
}
