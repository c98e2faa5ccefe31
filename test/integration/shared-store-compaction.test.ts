import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tempDir } from '../support/ingot.js';
import { type SharedNodes, startSharedNodes } from '../support/shared-nodes.js';
import { describeTree, pseudoRandom } from '../support/trees.js';

/**
 * gc's compaction of a shared directory store, on two `ingot serve` nodes on one PostgreSQL:
 * an image whose files alternate with another's, so each segment its ingest wrote holds
 * both; deleting the other leaves every segment about half dead, and gc rewrites them.
 */
describe('gc on two nodes of a shared directory store', () => {
  let nodes: SharedNodes;
  let work: string;

  beforeAll(async () => {
    nodes = await startSharedNodes(inject('pgUrl'), 'FPPS_GC');
    work = tempDir('ingot-compaction-work-');
  });
  afterAll(() => nodes?.stop());

  it('rewrites half-dead segments: the store shrinks, and what remains verifies and deploys', async () => {
    const { a, b, shared } = nodes;
    const both = join(work, 'both');
    const kept = join(work, 'kept');
    mkdirSync(both);
    mkdirSync(kept);
    for (let i = 0; i < 24; i++) {
      const keep = pseudoRandom(`keep-${i}`, 160 * 1024);
      writeFileSync(join(both, `f${String(i).padStart(2, '0')}-keep`), keep);
      writeFileSync(join(both, `f${String(i).padStart(2, '0')}-drop`), pseudoRandom(`drop-${i}`, 160 * 1024));
      writeFileSync(join(kept, `f${String(i).padStart(2, '0')}-keep`), keep);
    }
    expect((await a.cli(['image', 'add', 'BOTH_1', '--path', both])).code).toBe(0);
    // Every chunk of it is stored already: KEPT_1 adds only its manifest.
    expect((await b.cli(['image', 'add', 'KEPT_1', '--path', kept])).code).toBe(0);
    expect((await b.cli(['image', 'delete', 'BOTH_1'])).code).toBe(0);
    const before = segmentBytes(shared);

    const { result } = await a.json<{ result: Record<string, number> }>(['gc', '--grace', '0']);
    expect(result.deletedChunks).toBeGreaterThanOrEqual(24);
    expect(result.segmentsRewritten).toBeGreaterThan(0);
    expect(result.bytesRewritten).toBeGreaterThan(0);
    expect(result.bytesReclaimed).toBeGreaterThan(result.bytesRewritten as number);
    const after = segmentBytes(shared);
    expect(after).toBeLessThan(before * 0.65);
    expect(before - after).toBe((result.bytesReclaimed as number) - (result.bytesRewritten as number));

    for (const node of [a, b]) {
      const verified = await node.cli(['image', 'verify', 'KEPT_1']);
      expect(verified.code, verified.stderr).toBe(0);
    }
    const dest = join(work, 'deployed');
    const dep = await b.cli(['image', 'deploy', 'KEPT_1', '--path', dest]);
    expect(dep.code, dep.stderr).toBe(0);
    expect(describeTree(dest)).toEqual(describeTree(kept));

    // Whichever node's runner took the job counted it.
    const scraped = await Promise.all([a, b].map(async (n) => (await fetch(`${n.url}/metrics`)).text()));
    const total = (series: string) => scraped.reduce((n, text) => n + metric(text, series), 0);
    expect(total('ingot_store_segments_rewritten_total')).toBe(result.segmentsRewritten);
    expect(total('ingot_store_compaction_bytes_total{kind="reclaimed"}')).toBe(result.bytesReclaimed);
    // A second run finds nothing more to rewrite.
    const again = await a.json<{ result: Record<string, number> }>(['gc', '--grace', '0']);
    expect(again.result).toMatchObject({ deletedChunks: 0, segmentsRewritten: 0, bytesReclaimed: 0 });
  });
});

function segmentBytes(shared: string): number {
  const dir = join(shared, 'segments-v1');
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return files.reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);
}

/** The value of one series in a Prometheus text scrape (0 when absent). */
function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
