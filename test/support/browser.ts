/**
 * A real browser for the console's tests: Debian's Chromium driven by playwright-core, with
 * every request it makes kept (to check that no token ever travels in a URL) and every
 * console message (to catch Content-Security-Policy violations).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { REPO } from './ingot.js';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO, 'test-results', 'console');

export interface Seen {
  readonly urls: string[];
  readonly messages: string[];
}

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** A fresh context (its own sessionStorage) and page; what it requests and logs goes into `seen`. */
export async function openPage(
  browser: Browser,
  seen: Seen,
  opts: { ignoreHTTPSErrors?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    ignoreHTTPSErrors: opts.ignoreHTTPSErrors === true,
  });
  const page = await context.newPage();
  page.on('request', (r) => seen.urls.push(r.url()));
  page.on('console', (m) => seen.messages.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => seen.messages.push(`pageerror: ${e.message}`));
  return { context, page };
}

/** Opens the console at `url` and signs in with `token`; answers the response of the page itself. */
export async function signIn(page: Page, url: string, token: string) {
  const response = await page.goto(`${url}/`);
  await page.fill('#token', token);
  await page.click('#sign-in-button');
  await page.waitForSelector('#whoami');
  return response;
}

export function screenshot(page: Page, name: string): Promise<Buffer> {
  return page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
