/**
 * Child process for src/store/pack-lock.test.ts: takes the store lock at argv[2], prints
 * "held <pid>" and keeps it until it is killed.
 */
import { acquireStoreLock } from '../../src/store/pack-lock.js';

const path = process.argv[2];
if (!path) throw new Error('usage: store-lock-child <lock path>');
await acquireStoreLock(path);
process.stdout.write(`held ${process.pid}\n`);
setInterval(() => {}, 2 ** 30);
