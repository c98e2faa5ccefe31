import { resolve } from 'node:path';
import { defineConfig } from 'vite';

/** The console's build: one HTML page, hashed scripts and styles, nothing inline, into dist/console. */
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: resolve(import.meta.dirname, '../dist/console'),
    emptyOutDir: true,
    // Nothing becomes a data: URL or an inline script: the CSP allows files from 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
