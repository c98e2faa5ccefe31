import { describe, expect, it } from 'vitest';
import { createProgress, duration, progressLine, progressMode } from './progress.js';

const MiB = 1024 * 1024;

/** A stream that is not a terminal and keeps what it is given. */
function logStream(): NodeJS.WriteStream & { text: string } {
  const s = {
    isTTY: false,
    text: '',
    write(chunk: string) {
      s.text += chunk;
      return true;
    },
  };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('progress', () => {
  it('says done of total, stored and sent, rate, elapsed and ETA in one line', () => {
    const line = progressLine({
      label: 'add X',
      unit: 'bytes',
      done: 12 * MiB,
      total: 40 * MiB,
      moved: { stored: 3 * MiB, sent: 9 * MiB },
      elapsedMs: 3000,
    });
    expect(line).toBe(
      'add X  12.0 MiB / 40.0 MiB 30%  3.00 MiB already stored, 9.00 MiB sent  4.00 MiB/s  elapsed 3s  ETA 7s',
    );
  });

  it('counts chunks for verify, and has no ETA before it knows the total', () => {
    expect(
      progressLine({
        label: 'verify X',
        unit: 'chunks',
        done: 50,
        total: 0,
        moved: undefined,
        elapsedMs: 2000,
      }),
    ).toBe('verify X  50 chunks  25 chunks/s  elapsed 2s  ETA -');
  });

  it('counts one chunk as one chunk', () => {
    expect(
      progressLine({ label: 'v', unit: 'chunks', done: 1, total: 1, moved: undefined, elapsedMs: 1000 }),
    ).toBe('v  1 chunk / 1 chunk 100%  1 chunks/s  elapsed 1s  ETA 0s');
  });

  it('writes durations people read', () => {
    expect([duration(0), duration(59.4), duration(245), duration(7380)]).toEqual([
      '0s',
      '59s',
      '4m05s',
      '2h03m',
    ]);
  });

  it('takes --progress and --quiet, and refuses both at once', () => {
    expect(progressMode({})).toBe('auto');
    expect(progressMode({ quiet: true })).toBe('never');
    expect(progressMode({ json: true })).toBe('never');
    expect(progressMode({ json: true, progress: 'always' })).toBe('always');
    expect(() => progressMode({ quiet: true, progress: 'always' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('off a terminal shows nothing on auto; on always a line now and then and one at the end', () => {
    let t = 0;
    const now = () => t;
    const quiet = logStream();
    const auto = createProgress('add X', 100, { stream: quiet, now });
    auto.increment(50, 'sent');
    auto.stop();
    expect(auto.shown).toBe(false);
    expect(quiet.text).toBe('');

    const log = logStream();
    const p = createProgress('add X', 4 * MiB, { mode: 'always', stream: log, now });
    t = 500;
    p.increment(MiB, 'stored');
    expect(log.text).toBe(''); // too soon for a line
    t = 2000;
    p.increment(MiB, 'sent');
    t = 4000;
    p.increment(2 * MiB, 'sent');
    p.stop();
    p.stop();
    const lines = log.text.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(
      'add X  2.00 MiB / 4.00 MiB 50%  1.00 MiB already stored, 1.00 MiB sent  1.00 MiB/s  elapsed 2s  ETA 2s',
    );
    expect(lines[2]).toBe(
      'add X  4.00 MiB / 4.00 MiB 100%  1.00 MiB already stored, 3.00 MiB sent  1.00 MiB/s  elapsed 4s  ETA 0s',
    );
  });

  it('gives the rate of the current stage when done starts again from 0', () => {
    let t = 0;
    const log = logStream();
    const p = createProgress('import X', 0, { mode: 'always', stream: log, now: () => t });
    t = 4000;
    p.update(8 * MiB, 8 * MiB);
    t = 6000;
    p.update(MiB, 4 * MiB);
    t = 8000;
    p.update(2 * MiB, 4 * MiB);
    p.stop();
    const lines = log.text.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('import X  2.00 MiB / 4.00 MiB 50%  1.00 MiB/s  elapsed 8s  ETA 2s');
  });
});
