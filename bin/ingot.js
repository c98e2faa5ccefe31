#!/usr/bin/env node
import { main } from '../dist/main/cli.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ingot: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
