/**
 * A checksum list in sha256sum's format (`HEX  name`, `HEX *name` for binary mode) or the
 * BSD tag format (`SHA256 (name) = HEX`): the digest listed for one file name. Pure.
 */
import { IngotError } from './errors.js';

export function sha256For(list: string, fileName: string, listName: string): string {
  for (const line of list.split(/\r?\n/)) {
    const gnu = /^\\?([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.trim());
    const bsd = /^SHA256 \((.+)\) = ([0-9a-fA-F]{64})$/.exec(line.trim());
    const [hex, name] = gnu ? [gnu[1], gnu[2]] : bsd ? [bsd[2], bsd[1]] : [undefined, undefined];
    if (!hex || !name) continue;
    if (name === fileName || name.replace(/^\.\//, '').split('/').pop() === fileName)
      return hex.toLowerCase();
  }
  throw new IngotError('NOT_FOUND', `${listName} lists no SHA-256 for ${fileName}`, {
    details: { list: listName, file: fileName },
    hint: 'give the digest itself with --sha256 HEX, or the list that names this file',
  });
}

/** A SHA-256 given by hand: 64 hex digits, kept in lower case. */
export function parseSha256(hex: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new IngotError('INVALID_ARGUMENT', `--sha256 wants 64 hex digits, not ${JSON.stringify(hex)}`);
  }
  return hex.toLowerCase();
}
