/**
 * The web console in a real browser (Debian's Chromium, driven by playwright-core) against
 * real `ingot serve` processes: CON_A holds the images, CON_B is its peer and pulls one
 * rate-capped, so its progress bar can be watched moving. Screenshots of each page go to
 * test-results/console/.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_ROOT } from '../../src/api/console-files.js';
import { launchBrowser, openPage, type Seen, screenshot, signIn } from '../support/browser.js';
import { freePort, type IngotServer, startIngot } from '../support/ingot.js';
import { pair, waitFor, workDir } from '../support/peers.js';
import { startTcpRelay } from '../support/tcp-relay.js';
import { pseudoRandom } from '../support/trees.js';

const MiB = 1024 * 1024;
const BIG_BYTES = 6 * MiB;

let a: IngotServer;
let b: IngotServer;
let browser: Browser;
let reader: string;
const seen: Seen = { urls: [], messages: [] };

async function ok(server: IngotServer, args: string[]): Promise<string> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function addFile(server: IngotServer, name: string, bytes: number, ...args: string[]): Promise<void> {
  const file = join(workDir(), `${name}.img`);
  writeFileSync(file, pseudoRandom(name, bytes));
  await ok(server, ['image', 'add', name, '--file', file, ...args]);
}

/** Waits for `selector`; an error shown in `scope` instead fails at once with its text. */
async function shown(page: Page, selector: string, scope: string): Promise<void> {
  await page.waitForSelector(`${selector}, ${scope} .error`);
  expect(await page.$(`${scope} .error`).then((e) => e?.textContent())).toBeUndefined();
}

/** The value (0-100) of the progress bar in the row of `image` in the table `table`, or -1. */
async function progressOf(page: Page, table: string, image: string): Promise<number> {
  const bar = await page.$(`#${table} tr[data-image="${image}"] progress`);
  return bar ? Number(await bar.getAttribute('data-pct')) : -1;
}

beforeAll(async () => {
  expect(existsSync(join(CONSOLE_ROOT, 'index.html')), 'the console is built (npm run build)').toBe(true);
  [a, b, browser] = await Promise.all([
    startIngot({ name: 'CON_A' }),
    startIngot({ name: 'CON_B' }),
    launchBrowser(),
  ]);
  await pair({ server: a, name: 'CON_A' }, { server: b, name: 'CON_B' });
  await addFile(a, 'SMALL_1', 200 * 1024, '--state', 'PUBLISHED');
  await addFile(a, 'SMALL_2', 300 * 1024, '--state', 'TESTABLE');
  await addFile(a, 'OTHER_3', 100 * 1024, '--state', 'RESTRICTED');
  await addFile(a, 'BIG_ONE', BIG_BYTES, '--state', 'PUBLISHED');
  // The same bytes under another name: shared chunks, a dedup ratio above 1.
  const again = join(workDir(), 'SMALL_1.img');
  await ok(a, ['image', 'add', 'SMALL_COPY', '--file', again, '--state', 'TESTABLE']);
  reader = (await ok(a, ['token', 'create', 'viewer', '--role', 'reader'])).trim();
  // A template on CON_A, published once, that CON_B follows; and one that cannot be published.
  await ok(a, ['template', 'create', 'STORE_T']);
  await ok(a, ['template', 'add', 'STORE_T', '--image', 'SMALL_1']);
  await ok(a, ['template', 'publish', 'STORE_T']);
  await ok(a, ['template', 'create', 'DRAFT_T']);
  await ok(a, ['template', 'add', 'DRAFT_T', '--image', 'OTHER_3']);
  await ok(b, ['follow', '--upstream', 'CON_A', '--template', 'STORE_T', '--every', '1h']);
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  // No token in any URL the browser asked for, on any page of any test.
  expect(seen.urls.length).toBeGreaterThan(0);
  for (const url of seen.urls) {
    for (const token of [a.token, b.token, reader]) expect(url).not.toContain(token);
    expect(url).not.toMatch(/token=/i);
  }
  // The bundle runs under the strict CSP: nothing was refused, nothing threw.
  expect(seen.messages.filter((m) => /Content Security Policy|pageerror/i.test(m))).toEqual([]);
});

describe('the web console', () => {
  it('serves its page with a strict CSP and no token, and refuses a wrong token with the registry message', async () => {
    const res = await fetch(`${a.url}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(await res.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    // The API beside it still needs a token.
    expect((await fetch(`${a.url}/api/v1/images`)).status).toBe(401);
    expect((await fetch(`${a.url}/api/v1/nope`)).status).toBe(401);

    const { context, page } = await openPage(browser, seen);
    await page.goto(`${a.url}/`);
    await page.fill('#token', 'ingot_wrong');
    await page.click('#sign-in-button');
    await page.waitForSelector('#sign-in .error');
    expect(await page.textContent('#sign-in .error')).toContain('UNAUTHENTICATED');
    await context.close();
  });

  it('pages and searches images on the server, bounded, and answers whoami, stats and events to a reader', async () => {
    const get = async (path: string, token = reader) => {
      const res = await fetch(`${a.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const page = await get('/api/v1/images?limit=2&offset=1');
    expect(page.body.total).toBe(5);
    expect((page.body.images as { name: string }[]).map((i) => i.name)).toEqual(['OTHER_3', 'SMALL_1']);
    const found = await get('/api/v1/images?q=_c&limit=10');
    expect((found.body.images as { name: string }[]).map((i) => i.name)).toEqual(['SMALL_COPY']);
    // % and _ are literal: nothing is named with a %.
    expect((await get('/api/v1/images?q=%25&limit=10')).body.total).toBe(0);
    expect((await get('/api/v1/images')).body.total).toBe(5);
    expect((await get('/api/v1/images?limit=1001')).status).toBe(400);
    expect((await get(`/api/v1/images?q=${'x'.repeat(65)}`)).status).toBeGreaterThanOrEqual(400);
    expect((await get('/api/v1/whoami')).body).toEqual({ name: 'viewer', role: 'reader', server: 'CON_A' });
    const stats = (await get('/api/v1/stats')).body as { images: { count: number }; dedupRatio: number };
    expect(stats.images.count).toBe(5);
    expect(stats.dedupRatio).toBeGreaterThan(1);
    expect((await fetch(`${a.url}/api/v1/events`)).status).toBe(401);
    const events = await fetch(`${a.url}/api/v1/events`, { headers: { authorization: `Bearer ${reader}` } });
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    const reader2 = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('\n\n', text.indexOf('event: activity')))
      text += (await reader2.read()).value ?? '';
    const data = /event: activity\ndata: (.*)\n/.exec(text)?.[1] ?? '{}';
    const reading = JSON.parse(data) as { recent: { state: string }[] };
    expect(reading).toMatchObject({ transfers: [], served: [], jobs: [] });
    // Nothing runs, and the newest jobs (the adds above) are named with how they ended.
    expect(reading.recent.length).toBeGreaterThan(0);
    expect(reading.recent.every((j) => j.state === 'succeeded')).toBe(true);
    await reader2.cancel();
  });

  it('shows the dashboard: store size, dedup ratio, images by state, peers', async () => {
    const { context, page } = await openPage(browser, seen);
    const res = await signIn(page, a.url, a.token);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    await page.waitForSelector('#store-size .figure:not(:text-is("—"))');
    await page.waitForSelector('#dashboard-peers tr[data-peer="CON_B"] .badge.ok');
    expect(await page.textContent('#images-total .figure')).toBe('5');
    expect(await page.textContent('#by-state [data-state="PUBLISHED"]')).toBe('2');
    expect(await page.textContent('#by-state [data-state="RESTRICTED"]')).toBe('1');
    expect(await page.textContent('#by-state [data-state="TESTABLE"]')).toBe('2');
    const ratio = Number((await page.textContent('#dedup .figure'))?.replace('×', ''));
    expect(ratio).toBeGreaterThan(1);
    expect(await page.evaluate(() => sessionStorage.getItem('ingot.token'))).toBe(a.token);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    await page.waitForSelector('#link-state.link-live');
    await screenshot(page, 'dashboard');
    await context.close();
  });

  it('lists, searches and pages images on the server; an image shows its details', async () => {
    const { context, page } = await openPage(browser, seen);
    await signIn(page, a.url, a.token);
    await page.goto(`${a.url}/#/images`);
    await page.waitForSelector('#image-list tr[data-image="BIG_ONE"]');
    expect(await page.textContent('#page-label')).toBe('1–5 of 5');
    await page.fill('#image-search', 'small');
    await page.waitForSelector('#page-label:text-is("1–3 of 3")');
    const names = await page.$$eval('#image-list tbody tr', (rows) => rows.map((r) => r.dataset.image));
    expect(names).toEqual(['SMALL_1', 'SMALL_2', 'SMALL_COPY']);
    expect(seen.urls.some((u) => u.includes('/api/v1/images?q=small&limit=50'))).toBe(true);
    await screenshot(page, 'images');

    await page.fill('#image-search', 'BIG');
    await page.click('#image-list a[href="#/images/BIG_ONE"]');
    await page.waitForSelector('#image-chunks');
    expect(await page.textContent('#image-size')).toBe('6.00 MiB');
    expect(Number(await page.textContent('#image-chunks'))).toBeGreaterThan(1);
    expect(await page.textContent('#image-origin')).toBe('CON_A');
    expect(await page.isVisible('#delete')).toBe(true);
    await screenshot(page, 'image');
    await context.close();
  });

  it('changes a state, verifies, and shows the refusal of a delete with its hint; the CLI sees the change', async () => {
    const { context, page } = await openPage(browser, seen);
    await signIn(page, a.url, a.token);
    await page.goto(`${a.url}/#/images/SMALL_2`);
    await page.waitForSelector('#state-select');
    await page.selectOption('#state-select', 'PUBLISHED');
    await page.click('#set-state');
    await page.waitForSelector('#action-note:text-is("State set to PUBLISHED.")');
    await page.waitForSelector('#image-state .badge:text-is("PUBLISHED")');
    expect((await a.json<{ state: string }>(['image', 'show', 'SMALL_2'])).state).toBe('PUBLISHED');

    await page.click('#verify');
    await page.waitForSelector('#action-note:has-text("Verified")');

    // A working copy makes the delete a CONFLICT: the page shows the message and the hint.
    const headers = { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' };
    const copy = await fetch(`${a.url}/api/v1/images/SMALL_2/working-copies`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ host: 'node-7', path: '/u01/small2' }),
    });
    expect(copy.status, await copy.text()).toBe(201);
    await page.reload();
    await page.waitForSelector('#working-copies td.mono');
    await page.click('#delete');
    await page.click('#delete-confirm');
    await page.waitForSelector('#image .error[data-code="CONFLICT"]');
    const error = await page.textContent('#image .error');
    expect(error).toContain('has 1 registered working copy');
    expect(error).toContain('hint: delete with --force');
    await screenshot(page, 'image-refused');
    expect((await a.cli(['image', 'show', 'SMALL_2'])).code).toBe(0);
    await context.close();
  });

  it('shows a reader no action buttons', async () => {
    const { context, page } = await openPage(browser, seen);
    await signIn(page, a.url, reader);
    expect(await page.textContent('#whoami')).toBe('viewer (reader)');
    await page.goto(`${a.url}/#/images/BIG_ONE`);
    await page.waitForSelector('#image-chunks');
    expect(await page.$('#image-actions')).toBeNull();
    expect(await page.$('#set-state')).toBeNull();
    expect(await page.$('#delete')).toBeNull();
    await screenshot(page, 'image-reader');
    await page.goto(`${a.url}/#/images`);
    await page.waitForSelector('#image-list tr[data-image="BIG_ONE"]');
    expect(await page.$('#pull')).toBeNull();
    await context.close();
  });

  it('moves the progress bar of a rate-capped pull on both ends as it runs', async () => {
    await ok(b, ['modify', 'peerserver', '--server', 'CON_A', '--max-rate', '2M']);
    const puller = await openPage(browser, seen);
    const source = await openPage(browser, seen);
    await signIn(puller.page, b.url, b.token);
    await signIn(source.page, a.url, a.token);
    for (const p of [puller.page, source.page]) {
      await p.goto(`${p === puller.page ? b.url : a.url}/#/transfers`);
      await p.waitForSelector('#link-state.link-live');
    }
    await ok(b, ['image', 'pull', 'BIG_ONE', '--server', 'CON_A', '--no-wait']);

    // Seen running, then seen further along, without reloading: the events stream moves it.
    const first = await waitFor(
      'the pull to show progress',
      () => progressOf(puller.page, 'own-transfers', 'BIG_ONE'),
      (v) => v > 0 && v < 80,
      30_000,
    );
    await screenshot(puller.page, 'transfers');
    // The rate plot draws what the stream showed moving, under the 2 MiB/s cap (and its burst).
    const plotted = await waitFor(
      'the rate plot to draw the pull',
      async () => ({
        points: Number(await puller.page.getAttribute('#rate-plot', 'data-points')),
        top: Number(await puller.page.getAttribute('#rate-plot', 'data-top')),
      }),
      (p) => p.points >= 2 && p.top > 64 * 1024,
      30_000,
    );
    expect(plotted.top).toBeLessThan(8 * MiB);
    await waitFor(
      'the bar to move',
      () => progressOf(puller.page, 'own-transfers', 'BIG_ONE'),
      (v) => v > first,
      30_000,
    );
    // The source sees the same pull among those peers run with it.
    await waitFor(
      'the source to show the served pull',
      () => progressOf(source.page, 'served-transfers', 'BIG_ONE'),
      (v) => v >= 0,
      30_000,
    );
    await screenshot(source.page, 'transfers-served');
    await puller.page.waitForSelector('#own-transfers tr[data-image="BIG_ONE"][data-state="succeeded"]', {
      timeout: 60_000,
    });
    expect(await progressOf(puller.page, 'own-transfers', 'BIG_ONE')).toBe(100);
    await puller.context.close();
    await source.context.close();
  });

  it('lists peers with reachability, instantiations both ways and rate caps', async () => {
    await ok(b, ['modify', 'peerserver', '--server', 'CON_A', '--max-rate', '2M']);
    await ok(a, ['instantiate', 'image', '--server', 'CON_B', '--all']);
    const { context, page } = await openPage(browser, seen);
    await signIn(page, b.url, b.token);
    await page.goto(`${b.url}/#/peers`);
    await page.waitForSelector('#peer-list tr[data-peer="CON_A"] .badge.ok');
    expect(await page.textContent('#peer-list tr[data-peer="CON_A"] .max-rate')).toBe('2.00 MiB/s');
    expect(await page.textContent('#peer-list tr[data-peer="CON_A"] .pushes-to')).toContain('all');
    expect(await page.textContent('#peer-list tr[data-peer="CON_A"] .pushes-here')).toBe('—');
    await context.close();
  });

  it('instantiates by filter after showing the dry run’s exact bytes, refuses a bad filter, and withdraws; the CLI sees each', async () => {
    const asked = async () =>
      (await b.json<{ pushesHere: string[] }>(['query', 'peerserver', '--server', 'CON_A'])).pushesHere;
    const { context, page } = await openPage(browser, seen);
    await signIn(page, b.url, b.token);
    await page.goto(`${b.url}/#/peers`);
    await page.waitForSelector('#instantiate-kind');

    // A name the rules refuse: the registry's message, no plan, nothing recorded.
    await page.selectOption('#instantiate-kind', 'imagetype');
    await page.fill('#instantiate-value', 'no such/type');
    await page.click('#instantiate-dry-run');
    await page.waitForSelector('#instantiate .error[data-code="INVALID_NAME"]');
    expect(await page.textContent('#instantiate .error')).toContain('hint: a image type name is a letter');
    expect(await page.$('#instantiate-plan')).toBeNull();
    expect(await page.$('#instantiate-confirm')).toBeNull();
    expect(await asked()).toEqual([]);

    // The dry run: the same bytes the CLI's dry run states, to the byte; nothing asked yet.
    await page.fill('#instantiate-value', 'DISKIMAGE');
    await page.click('#instantiate-dry-run');
    await shown(page, '#instantiate-plan', '#instantiate');
    const cli = await b.json<{ bytesMissing: number; images: { meta: { name: string } }[] }>([
      'instantiate',
      'image',
      '--server',
      'CON_A',
      '--imagetype',
      'DISKIMAGE',
      '--dry-run',
    ]);
    expect(cli.bytesMissing).toBeGreaterThan(0);
    expect(Number(await page.getAttribute('#instantiate-plan', 'data-bytes'))).toBe(cli.bytesMissing);
    expect(await page.textContent('#plan-bytes')).toBe(`${cli.bytesMissing.toLocaleString('en-US')} bytes`);
    const planned = await page.$$eval('#plan-images tr', (rows) => rows.map((r) => r.dataset.image));
    expect(planned.sort()).toEqual(cli.images.map((i) => i.meta.name).sort());
    expect(await asked()).toEqual([]);
    await screenshot(page, 'peers-dry-run');

    // Changing the filter drops the plan: what is confirmed is what was shown.
    await page.selectOption('#instantiate-state', 'RESTRICTED');
    expect(await page.$('#instantiate-confirm')).toBeNull();
    await page.selectOption('#instantiate-state', 'PUBLISHED');
    await page.click('#instantiate-dry-run');
    await page.click('#instantiate-confirm');
    await page.waitForSelector('#instantiate-note:has-text("Instantiated --imagetype DISKIMAGE")');
    expect(await asked()).toEqual(['--imagetype DISKIMAGE']);
    const row = '#peer-list tr[data-peer="CON_A"] .asked[data-filter="--imagetype DISKIMAGE"]';
    await page.waitForSelector(row);
    await screenshot(page, 'peers');

    await page.click(`${row} .withdraw`);
    await page.click(`${row} .withdraw-confirm`);
    await page.waitForSelector('#peers-note:has-text("Withdrew --imagetype DISKIMAGE")');
    expect(await asked()).toEqual([]);
    await page.waitForSelector('#peer-list tr[data-peer="CON_A"] .pushes-here:text-is("—")');
    await context.close();
  });

  it('pulls an image from a peer after showing the dry run’s exact bytes, and refuses a name the peer does not offer; the CLI sees each', async () => {
    await addFile(a, 'PULL_ME', 700 * 1024, '--state', 'PUBLISHED');
    const { context, page } = await openPage(browser, seen);
    await signIn(page, b.url, b.token);
    await page.goto(`${b.url}/#/images`);
    await page.waitForSelector('#pull-peer option:text-is("CON_A")', { state: 'attached' });

    // A name CON_A does not offer: the registry's code, no plan, no job.
    await page.fill('#pull-image', 'NOT_THERE');
    await page.click('#pull-dry-run');
    await page.waitForSelector('#pull .error[data-code]');
    expect(await page.getAttribute('#pull .error', 'data-code')).toBe('NOT_FOUND');
    expect(await page.$('#pull-confirm')).toBeNull();

    // The dry run states the bytes the CLI's dry run states, to the byte; nothing moves yet.
    await page.fill('#pull-image', 'PULL_ME');
    await page.click('#pull-dry-run');
    await shown(page, '#pull-plan', '#pull');
    const cli = await b.json<{ bytesMissing: number }>([
      'image',
      'pull',
      'PULL_ME',
      '--server',
      'CON_A',
      '--dry-run',
    ]);
    expect(cli.bytesMissing).toBeGreaterThanOrEqual(700 * 1024);
    expect(Number(await page.getAttribute('#pull-plan', 'data-bytes'))).toBe(cli.bytesMissing);
    expect(await page.textContent('#pull-plan-bytes')).toBe(
      `${cli.bytesMissing.toLocaleString('en-US')} bytes`,
    );
    expect((await b.cli(['image', 'show', 'PULL_ME'])).code).not.toBe(0);
    await screenshot(page, 'images-pull-dry-run');

    await page.click('#pull-confirm');
    await page.waitForSelector('#pull-note:has-text("Pulling PULL_ME from CON_A (job #")');
    const job = Number((await page.textContent('#pull-note'))?.match(/job #(\d+)/)?.[1]);
    await waitFor(
      `pull job #${job} on CON_B`,
      () => b.json<{ state: string }>(['job', 'show', String(job)]),
      (j) => j.state !== 'queued' && j.state !== 'running',
    ).then((j) => expect(j.state).toBe('succeeded'));
    const pulled = await b.json<{ size: number; receivedFrom: string }>(['image', 'show', 'PULL_ME']);
    expect(pulled.size).toBe(700 * 1024);
    expect(pulled.receivedFrom).toBe('CON_A');
    await context.close();
  });

  it('shows templates and followings, publishes a version, refuses one with an unpublished member, and syncs now; the CLI sees each', async () => {
    const { context, page } = await openPage(browser, seen);
    await signIn(page, a.url, a.token);
    await page.goto(`${a.url}/#/sites`);
    const store = '#template-list tr[data-template="STORE_T"]';
    await page.waitForSelector(`${store} .version:has-text("v1")`);
    expect(await page.textContent(`${store} .members`)).toBe('SMALL_1');
    expect(await page.textContent(`${store} .published`)).toContain('SMALL_1');
    await page.click(`${store} button.publish`);
    await page.waitForSelector('#sites-note:text-is("Published STORE_T version 2 (1 image).")');
    await page.waitForSelector(`${store} .version:has-text("v2")`);
    expect((await a.json<{ latestVersion: number }>(['template', 'show', 'STORE_T'])).latestVersion).toBe(2);

    // A member that is not PUBLISHED: the registry's message and hint, and no version made.
    await page.click('#template-list tr[data-template="DRAFT_T"] button.publish');
    await page.waitForSelector('#sites .error[data-code="CONFLICT"]');
    const refusal = await page.textContent('#sites .error');
    expect(refusal).toContain('image OTHER_3 is RESTRICTED, not PUBLISHED');
    expect(refusal).toContain('hint: publish it first');
    expect(
      (await a.json<{ latestVersion: number | null }>(['template', 'show', 'DRAFT_T'])).latestVersion,
    ).toBe(null);
    await screenshot(page, 'sites');
    await context.close();

    const follower = await openPage(browser, seen);
    await signIn(follower.page, b.url, b.token);
    await follower.page.goto(`${b.url}/#/sites`);
    const following = '#following-list tr[data-following="CON_A/STORE_T"]';
    await follower.page.waitForSelector(following);
    expect(await follower.page.textContent(`${following} td:nth-child(3)`)).toBe('1h');
    await follower.page.click(`${following} button.sync-now`);
    await follower.page.waitForSelector('#sites-note:has-text("Sync from CON_A started")');
    // The sync job's end comes through the events stream, and the row says how it went.
    // A loaded machine has taken over a minute here; on a timeout, say where the sync stood.
    await follower.page
      .waitForSelector(`${following} .last-sync:has-text("ok v2")`, { timeout: 110_000 })
      .catch(async (err: unknown) => {
        const row = await follower.page.textContent(following).catch(() => '(no row)');
        const jobs = await b.cli(['job', 'list', '--json']).catch(() => undefined);
        throw new Error(`the sync did not show ok v2: row ${row}; jobs ${jobs?.stdout}`, { cause: err });
      });
    await follower.page.waitForSelector('#template-list tr[data-template="STORE_T"] .version:has-text("v2")');
    const held = await b.json<{ lastStatus: string; lastVersion: number }[]>(['following']);
    expect(held[0]).toMatchObject({ lastStatus: 'ok', lastVersion: 2 });
    expect((await b.cli(['image', 'show', 'SMALL_1'])).code).toBe(0);
    await screenshot(follower.page, 'sites-follower');
    await follower.context.close();
  });

  it('shows a reader no publish, sync, instantiate or withdraw buttons', async () => {
    const { context, page } = await openPage(browser, seen);
    await signIn(page, a.url, reader);
    await page.goto(`${a.url}/#/sites`);
    await page.waitForSelector('#template-list tr[data-template="STORE_T"]');
    expect(await page.$$('#sites button')).toEqual([]);
    await page.goto(`${a.url}/#/peers`);
    await page.waitForSelector('#peer-list tr[data-peer="CON_B"]');
    expect(await page.$('#instantiate')).toBeNull();
    expect(await page.$$('#peers button')).toEqual([]);
    await screenshot(page, 'peers-reader');
    await context.close();
  });

  it('shows an image’s lineage, the templates it is in and the peers that took a copy', async () => {
    await addFile(a, 'SMALL_1_P1', 50 * 1024, '--from', 'SMALL_1', '--state', 'TESTABLE');
    const { context, page } = await openPage(browser, seen);
    await signIn(page, a.url, reader);
    await page.goto(`${a.url}/#/images/SMALL_1_P1`);
    await page.waitForSelector('#lineage li[data-ancestor="SMALL_1"] .lineage-here');
    await page.click('#lineage a[href="#/images/SMALL_1"]');
    await page.waitForSelector('#lineage li[data-child="SMALL_1_P1"]');
    expect(await page.textContent('#image-templates')).toBe('STORE_T v2');
    // CON_B's sync of STORE_T pulled it from here.
    await page.waitForSelector('#image-replicas:text-is("CON_B")');
    await screenshot(page, 'image-lineage');
    await page.goto(`${a.url}/#/images/OTHER_3`);
    await page.waitForSelector('#image-templates:text-is("DRAFT_T")');
    // Loaded for this image (not the last one's copies still on screen), and none.
    await page.waitForSelector('#image-replicas:text-is("—")');
    await context.close();
  });

  it('plots the store’s growth since the server started', async () => {
    const growth = await fetch(`${a.url}/api/v1/stats/growth`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    const { samples } = (await growth.json()) as { samples: { bytes: number }[] };
    expect(samples.length).toBeGreaterThanOrEqual(2);
    expect(samples[0]?.bytes).toBeLessThan(samples.at(-1)?.bytes ?? 0);
    const { context, page } = await openPage(browser, seen);
    await signIn(page, a.url, reader);
    await page.waitForSelector('#growth-plot path.plot-line');
    expect(Number(await page.getAttribute('#growth-plot', 'data-top'))).toBe(samples.at(-1)?.bytes);
    await screenshot(page, 'dashboard-plots');
    await context.close();
  });
});

describe('the web console over TLS', () => {
  it('signs in and follows the events stream on https', async () => {
    const s = await startIngot({ name: 'CON_TLS', args: ['--tls'] });
    try {
      expect(s.url.startsWith('https://')).toBe(true);
      const { context, page } = await openPage(browser, seen, { ignoreHTTPSErrors: true });
      const res = await signIn(page, s.url, s.token);
      expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
      await page.waitForSelector('#link-state.link-live');
      await page.waitForSelector('#images-total .figure:text-is("0")');
      await screenshot(page, 'dashboard-tls');
      await context.close();
    } finally {
      await s.stop();
    }
  });
});

describe('the events stream', () => {
  it('comes back when its connection is cut with the server still up', async () => {
    const relay = await startTcpRelay(a.url);
    try {
      const { context, page } = await openPage(browser, seen);
      const streams: string[] = [];
      page.on('request', (r) => r.url().endsWith('/api/v1/events') && streams.push(r.url()));
      await signIn(page, relay.url, a.token);
      await page.waitForSelector('#link-state.link-live');
      expect(streams).toHaveLength(1);
      relay.cut();
      await page.waitForSelector('#link-state.link-reconnecting');
      await page.waitForSelector('#link-state.link-live', { timeout: 30_000 });
      expect(streams).toHaveLength(2);
      expect(await page.textContent('#whoami')).toBe('admin (admin)');
      await context.close();
    } finally {
      await relay.close();
    }
  });

  it('reconnects when the server goes away and comes back, and the page carries on', async () => {
    const port = await freePort();
    let s = await startIngot({ name: 'CON_RE', args: ['--listen', `127.0.0.1:${port}`] });
    try {
      const { context, page } = await openPage(browser, seen);
      await signIn(page, s.url, s.token);
      await page.waitForSelector('#link-state.link-live');
      await s.stop();
      await page.waitForSelector('#link-state.link-reconnecting');
      s = await s.restart();
      await page.waitForSelector('#link-state.link-live', { timeout: 30_000 });
      // Still signed in: the same tab's token, sent again on the new stream.
      expect(await page.textContent('#whoami')).toBe('admin (admin)');
      await context.close();
    } finally {
      await s.stop();
    }
  });
});
