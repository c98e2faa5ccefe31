import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SIGN_RELEASE } from '../../src/cli/commands/update.command.js';
import { MAKE_PUBLISHER_KEY } from '../../src/cli/commands/update-keys.command.js';
import { helpExamples } from '../../src/cli/reference.js';
import { createSelfSignedCertificate } from '../../src/federation/certificate.js';
import { buildProgram } from '../../src/main/cli.js';
import {
  BIN,
  type CliResult,
  type IngotServer,
  outcome,
  startIngot,
  stopProcess,
  tempDir,
  waitForServer,
} from '../support/ingot.js';
import { freshPgDatabase } from '../support/postgres.js';
import { packRelease } from '../support/releases.js';
import { pseudoRandom } from '../support/trees.js';
import { type Daemon, makeTestCa, startNginx, startTinyproxy, startVsftpd } from '../support/url-servers.js';

/**
 * Every example of every command's `--help`, run as written by a shell against real servers
 * named as the examples name them, in an order where each finds what it needs (the setup
 * steps between them make the images and files they name). Three substitutions only:
 * absolute paths live under a sandbox directory (the test may not write /u01 or /media),
 * the database host of the PostgreSQL example is the test run's PostgreSQL, and the hosts
 * of the import examples (updates.example, mirror.example, proxy.example) are the nginx,
 * vsftpd and tinyproxy the test starts on loopback.
 */
type Step =
  | { readonly on: Name; readonly example: string }
  | { readonly on: Name; readonly setup: string }
  | { readonly serve: string }
  /** Runs in a new, empty INGOT_HOME (an import snapshot's). */
  | { readonly fresh: string };
type Name = 'FPPS_1' | 'FPPS_2' | 'EDGE_7' | 'HQ' | 'SITE_1';

const STEPS: readonly Step[] = [
  { serve: 'ingot serve' },
  {
    serve: 'INGOT_HOME=/srv/ingot ingot serve --name FPPS_1 --listen 0.0.0.0:7480 --peer-listen 0.0.0.0:7481',
  },
  { serve: 'ingot serve --db postgres://ingot@db.example:5432/ingot' },
  { serve: 'ingot serve --db postgres://ingot@db.example:5432/ingot --store /mnt/shared/ingot' },
  { serve: 'ingot serve --audit-days 90 --history-days 30' },
  { serve: 'ingot serve --tls --listen 0.0.0.0:7480' },
  // beforeAll puts a certificate and its key at /etc/ingot/api.*.
  { serve: 'ingot serve --tls-cert /etc/ingot/api.crt --tls-key /etc/ingot/api.key' },
  // One server's catalog.
  {
    on: 'FPPS_1',
    example: 'ingot imagetype add DBHOME --basetype SOFTWARE --description "Oracle Database homes"',
  },
  { on: 'FPPS_1', example: 'ingot imagetype list --json' },
  { on: 'FPPS_1', example: 'ingot series add DB19 --description "Database 19c release updates"' },
  {
    on: 'FPPS_1',
    example: 'ingot image add DBHOME_19_21 --path /u01/app/oracle/19.21 --type DBHOME --series DB19',
  },
  { on: 'FPPS_1', example: 'ingot image add OL9_ROOT --file ol9-rootfs.img --type DISKIMAGE' },
  { on: 'FPPS_1', example: 'ingot image add DBHOME_19_22 --path ./home-19.22 --from DBHOME_19_21' },
  { on: 'FPPS_1', setup: 'ingot image add DBHOME_19_23 --path ./home-19.22 --type DBHOME' },
  { on: 'FPPS_1', example: 'ingot series insert DB19 --image DBHOME_19_23' },
  { on: 'FPPS_1', example: 'ingot series show DB19' },
  { on: 'FPPS_1', example: 'ingot image list' },
  { on: 'FPPS_1', example: 'ingot image list --series DB19 --json' },
  { on: 'FPPS_1', example: 'ingot image list --type OSIMAGE' },
  { on: 'FPPS_1', example: 'ingot image show DBHOME_19_21' },
  { on: 'FPPS_1', example: 'ingot image show OL9_ROOT --json' },
  { on: 'FPPS_1', example: 'ingot image deploy DBHOME_19_21 --path /u01/app/oracle/product/19.21' },
  { on: 'FPPS_1', example: 'ingot image deploy OL9_ROOT --path /images/ol9.img' },
  { on: 'FPPS_1', example: 'ingot workingcopy list' },
  { on: 'FPPS_1', example: 'ingot workingcopy list --image DBHOME_19_21 --json' },
  // The second deploy above is working copy 2.
  { on: 'FPPS_1', example: 'ingot workingcopy delete 2' },
  {
    on: 'FPPS_1',
    example:
      'ingot workingcopy delete --image DBHOME_19_21 --host "$(hostname)" --path /u01/app/oracle/product/19.21',
  },
  { on: 'FPPS_1', example: 'ingot image state DBHOME_19_22 TESTABLE' },
  { on: 'FPPS_1', example: 'ingot image state DBHOME_19_22 PUBLISHED' },
  { on: 'FPPS_1', example: 'ingot image verify OL9_ROOT' },
  { on: 'FPPS_1', example: 'ingot image verify OL9_ROOT --json' },
  { on: 'FPPS_1', setup: 'ingot image add DBHOME_19_20 --path ./home-19.22' },
  { on: 'FPPS_1', example: 'ingot image delete DBHOME_19_20 && ingot gc' },
  { on: 'FPPS_1', example: 'ingot gc' },
  { on: 'FPPS_1', example: 'ingot gc --grace 0 --json' },
  { on: 'FPPS_1', example: 'ingot job list' },
  { on: 'FPPS_1', example: 'ingot job list --state failed --json' },
  // Who may do what.
  { on: 'FPPS_1', example: 'ingot token create ci-deploy --role operator --expires 30d' },
  { on: 'FPPS_1', example: 'INGOT_TOKEN=$(ingot token create dashboard --role reader) ingot image list' },
  { on: 'FPPS_1', example: 'ingot token list' },
  { on: 'FPPS_1', example: 'ingot token list --json' },
  { on: 'FPPS_1', example: 'ingot token revoke ci-deploy' },
  { on: 'FPPS_1', example: 'ingot status' },
  { on: 'FPPS_1', example: 'ingot status --wait 30 --json' },
  { on: 'FPPS_1', example: 'ingot nodes' },
  { on: 'FPPS_1', example: 'ingot nodes --json' },
  // Drained, the node takes no jobs: undrained at once, before the next example needs one.
  { on: 'FPPS_1', example: 'ingot node drain self' },
  { on: 'FPPS_1', example: 'ingot node undrain self --json' },
  // Releases: beforeAll packs this build as ingot-0.2.0.tgz (in the work directory and on the FTP server).
  { on: 'FPPS_1', example: 'ingot update status' },
  {
    on: 'FPPS_1',
    example:
      'ingot update add --file ingot-0.2.0.tgz --sha256 "$(sha256sum ingot-0.2.0.tgz | cut -d" " -f1)"',
  },
  {
    on: 'FPPS_1',
    example:
      'ingot update add --url ftp://mirror.example/pub/ingot-0.2.0.tgz --sha256 "$(sha256sum ingot-0.2.0.tgz | cut -d" " -f1)" --json',
  },
  // The publisher's key pair; from its trust on, a release needs the publisher's signature.
  { on: 'FPPS_1', example: MAKE_PUBLISHER_KEY },
  { on: 'FPPS_1', example: 'ingot update keys add --file publisher.pub --name acme' },
  { on: 'FPPS_1', example: 'ingot update keys list' },
  { on: 'FPPS_1', example: 'ingot update keys list --json' },
  { on: 'FPPS_1', example: SIGN_RELEASE },
  // The publisher puts the signature beside the tarball on its mirror.
  { on: 'FPPS_1', setup: 'cp ingot-0.2.0.tgz.sig /www/pub/' },
  {
    on: 'FPPS_1',
    example:
      'ingot update add --file ingot-0.2.0.tgz --sha256 "$(sha256sum ingot-0.2.0.tgz | cut -d" " -f1)" --signature ingot-0.2.0.tgz.sig',
  },
  {
    on: 'FPPS_1',
    example:
      'ingot update add --url ftp://mirror.example/pub/ingot-0.2.0.tgz --sha256 "$(sha256sum ingot-0.2.0.tgz | cut -d" " -f1)" --signature-url ftp://mirror.example/pub/ingot-0.2.0.tgz.sig --json',
  },
  { on: 'FPPS_1', example: 'ingot update keys remove acme' },
  { on: 'FPPS_1', example: 'ingot update list' },
  { on: 'FPPS_1', example: 'ingot update list --json' },
  { on: 'FPPS_1', example: 'ingot update show 0.2.0' },
  { on: 'FPPS_1', example: 'ingot update show 0.2.0 --json' },
  { on: 'FPPS_1', example: 'ingot update activate 0.2.0 --dry-run' },
  // A dry run only: a roll would restart this server under the examples that follow (roll.test.ts rolls).
  { on: 'FPPS_1', example: 'ingot update activate 0.2.0 --drain-seconds 10 --dry-run --json' },
  { on: 'FPPS_1', example: 'ingot update status --json' },
  { on: 'FPPS_1', example: 'ingot audit' },
  { on: 'FPPS_1', example: 'ingot audit --limit 200 --json' },
  { on: 'FPPS_1', example: 'ingot add client dbnode01' },
  { on: 'FPPS_1', example: 'ingot add target edge-box-7' },
  // Peers: FPPS_1 and FPPS_2 register each other; EDGE_7 only gives its file.
  { on: 'FPPS_1', example: 'ingot export server --serverdata fpps1.json' },
  { on: 'FPPS_2', example: 'ingot register server --server FPPS_1 --serverdata fpps1.json' },
  { on: 'FPPS_2', setup: 'ingot export server --serverdata fpps2.json' },
  { on: 'FPPS_1', setup: 'ingot register server --server FPPS_2 --serverdata fpps2.json' },
  { on: 'EDGE_7', setup: 'ingot export server --serverdata edge7.json' },
  { on: 'FPPS_1', example: 'ingot register server --server EDGE_7 --serverdata edge7.json --max-rate 20M' },
  { on: 'FPPS_1', example: 'ingot modify peerserver --server FPPS_2 --max-rate 50M' },
  { on: 'FPPS_2', example: 'ingot query peerserver' },
  { on: 'FPPS_2', example: 'ingot query peerserver --server FPPS_1 --json' },
  { on: 'FPPS_2', setup: 'ingot imagetype add DBHOME --basetype SOFTWARE' },
  { on: 'FPPS_2', setup: 'ingot series add DB19' },
  {
    on: 'FPPS_2',
    setup: 'ingot image add DB19_BASE --path /u01/app/oracle/19.21 --type DBHOME --series DB19',
  },
  { on: 'FPPS_2', setup: 'ingot image add DB19_RU22 --path ./home-19.22 --from DB19_BASE' },
  { on: 'FPPS_1', example: 'ingot query image --server FPPS_2' },
  { on: 'FPPS_1', example: 'ingot image pull DB19_RU22 --server FPPS_2 --dry-run' },
  { on: 'FPPS_1', example: 'ingot image pull DB19_RU22 --server FPPS_2' },
  { on: 'FPPS_1', example: 'ingot query image --server FPPS_2 --image DB19_RU22 --json' },
  { on: 'FPPS_1', example: 'ingot instantiate image --server FPPS_2 --series DB19 --dry-run' },
  { on: 'FPPS_1', example: 'ingot instantiate image --server FPPS_2 --image DB19_BASE' },
  { on: 'FPPS_1', example: 'ingot instantiate image --server FPPS_2 --imagetype DBHOME --state TESTABLE' },
  { on: 'FPPS_1', example: 'ingot instantiate image --server FPPS_2 --all' },
  { on: 'FPPS_1', example: 'ingot uninstantiate image --server FPPS_2 --all' },
  { on: 'FPPS_1', example: 'ingot transfers' },
  { on: 'FPPS_1', example: 'ingot transfers --peer FPPS_2 --json' },
  { on: 'FPPS_1', example: 'ingot transfers --served --direction in' },
  // The pull above is the 11th job of FPPS_1 (each add, verify and gc before it is one).
  { on: 'FPPS_1', example: 'ingot transfer show 11' },
  { on: 'FPPS_1', example: 'ingot gc --dry-run' },
  { on: 'FPPS_2', example: 'ingot unregister server --server FPPS_1' },
  // Sites: HQ publishes a template that SITE_1 follows.
  { on: 'HQ', setup: 'ingot export server --serverdata hq.json' },
  { on: 'SITE_1', setup: 'ingot export server --serverdata site1.json' },
  { on: 'HQ', setup: 'ingot register server --server SITE_1 --serverdata site1.json' },
  { on: 'SITE_1', setup: 'ingot register server --server HQ --serverdata hq.json' },
  { on: 'HQ', example: 'ingot modify peerserver --server SITE_1 --allow-uploads on' },
  { on: 'HQ', setup: 'ingot image add WIN_TC_6 --file ol9-rootfs.img' },
  { on: 'HQ', setup: 'ingot image add WIN_TC_7 --file tc7.img' },
  { on: 'HQ', example: 'ingot template create STORE_PCS --description "thin clients in the stores"' },
  { on: 'HQ', setup: 'ingot template add STORE_PCS --image WIN_TC_6' },
  { on: 'HQ', example: 'ingot template add STORE_PCS --image WIN_TC_7' },
  { on: 'HQ', example: 'ingot template remove STORE_PCS --image WIN_TC_6' },
  { on: 'HQ', example: 'ingot template publish STORE_PCS' },
  { on: 'HQ', example: 'ingot template show STORE_PCS --json' },
  { on: 'SITE_1', example: 'ingot follow --upstream HQ --template STORE_PCS --every 15m' },
  {
    on: 'SITE_1',
    example: 'ingot follow --upstream HQ --template STORE_PCS --every 1h --window 22:00-06:00 --max-rate 20M',
  },
  { on: 'SITE_1', example: 'ingot sync --dry-run' },
  { on: 'SITE_1', example: 'ingot sync --upstream HQ --now' },
  { on: 'SITE_1', example: 'ingot sync' },
  { on: 'SITE_1', setup: 'ingot image add WIN_TC_7_P1 --file tc7-p1.img --from WIN_TC_7' },
  { on: 'SITE_1', example: 'ingot image push WIN_TC_7_P1 --server HQ' },
  // Bundles: the offline route from HQ to the site.
  { on: 'HQ', example: 'ingot bundle create --image WIN_TC_7 --out /media/usb/' },
  { on: 'HQ', example: 'ingot bundle create --image WIN_TC_7_P1 --base WIN_TC_7 --out /media/usb/' },
  { on: 'SITE_1', example: 'ingot inventory --out /media/usb/site-inventory.json' },
  { on: 'HQ', setup: 'ingot image add WIN_TC_8 --file tc8.img --from WIN_TC_7' },
  {
    on: 'HQ',
    example:
      'ingot bundle create --image WIN_TC_8 --have /media/usb/site-inventory.json --out /media/usb/ --split',
  },
  { on: 'SITE_1', example: 'ingot bundle import /media/usb/WIN_TC_7.ingot' },
  { on: 'SITE_1', example: 'ingot bundle import /media/usb/WIN_TC_8.ingot.001' },
  // Snapshots: FPPS_1 onto a stick, then rebuilt from it on fresh homes.
  { on: 'FPPS_1', setup: 'echo "correct horse battery staple" > pass.txt' },
  {
    on: 'FPPS_1',
    setup: 'mkdir -p /etc/ingot-hooks && echo "echo deployed" > /etc/ingot-hooks/post-deploy.sh',
  },
  { on: 'FPPS_1', example: 'ingot export snapshot --to /media/usb/fpps1 --passphrase-file pass.txt' },
  {
    on: 'FPPS_1',
    example:
      'ingot export snapshot --to /media/usb/fpps1-full --with-images --include /etc/ingot-hooks --passphrase-file pass.txt',
  },
  {
    on: 'FPPS_1',
    example:
      'ingot export snapshot --to /media/usb/fpps1-os --images OL9_ROOT,DBHOME_19_21 --passphrase-file pass.txt',
  },
  // The new machine lacks the included files.
  { on: 'FPPS_1', setup: 'rm -r /etc/ingot-hooks' },
  { fresh: 'ingot import snapshot /media/usb/fpps1 --passphrase-file pass.txt' },
  {
    fresh:
      'ingot import snapshot /media/usb/fpps1-full --passphrase-file pass.txt --listen 0.0.0.0:7480 --peer-listen 0.0.0.0:7481 --advertise https://fpps2.example.com:7481',
  },
  {
    fresh:
      'ingot import snapshot /media/usb/fpps1-os --passphrase-file pass.txt --db postgres://ingot@db.example:5432/ingot',
  },
  // Imports from URLs (after the examples that name job ids).
  {
    on: 'FPPS_1',
    example:
      'ingot image import OVCA_2_1 --url https://updates.example/ovca-2.1.img --sha256-url https://updates.example/SHA256SUMS --cacert ca.pem --type ISO',
  },
  {
    on: 'FPPS_1',
    example:
      'ingot image import DISK_7 --url ftp://mirror.example/pub/disk7.img --sha256-url ftp://mirror.example/pub/SHA256SUMS',
  },
  {
    on: 'FPPS_1',
    example:
      'ingot image import OVCA_2_2 --url https://updates.example/ovca-2.2.img --sha256 f81f32c7b32edb7c3fda55d108bb85bbb4077d3d72784f9e5121ee0a18ff0bec --proxy http://proxy.example:3128 --cacert ca.pem',
  },
  {
    on: 'FPPS_1',
    example:
      'ingot image import OVCA_2_3 --url https://updates.example/ovca-2.3.zip --sha256-url https://updates.example/SHA256SUMS --cacert ca.pem --unpack zip,iso --type OSIMAGE',
  },
];

const SERVERS: readonly Name[] = ['FPPS_1', 'FPPS_2', 'EDGE_7', 'HQ', 'SITE_1'];

describe('every example in every --help runs as written', () => {
  const root = tempDir('ingot-examples-');
  const cwd = join(root, 'work');
  const servers = new Map<Name, IngotServer>();
  let pgUrl: string;
  let dropPg: () => Promise<void>;
  const sources: Daemon[] = [];
  let hosts: Record<string, string> = {};

  beforeAll(async () => {
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin', 'ingot'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(root, 'bin', 'ingot'), 0o755);
    const home = join(root, 'u01', 'app', 'oracle', '19.21');
    mkdirSync(join(home, 'bin'), { recursive: true });
    writeFileSync(join(home, 'bin', 'oracle'), pseudoRandom('oracle', 400_000));
    writeFileSync(join(home, 'README'), 'Oracle home\n');
    mkdirSync(cwd);
    cpSync(home, join(cwd, 'home-19.22'), { recursive: true });
    writeFileSync(join(cwd, 'home-19.22', 'patch.txt'), 'RU 22\n');
    writeFileSync(join(cwd, 'ol9-rootfs.img'), pseudoRandom('ol9', 300_000));
    const tc7 = pseudoRandom('tc7', 600_000);
    writeFileSync(join(cwd, 'tc7.img'), tc7);
    writeFileSync(join(cwd, 'tc7-p1.img'), Buffer.concat([tc7, Buffer.from('patch 1')]));
    writeFileSync(
      join(cwd, 'tc8.img'),
      Buffer.concat([tc7.subarray(0, 300_000), pseudoRandom('tc8', 300_000)]),
    );
    mkdirSync(join(root, 'media', 'usb'), { recursive: true });
    const pair = createSelfSignedCertificate({ commonName: 'api.example', ipAddresses: ['127.0.0.1'] });
    mkdirSync(join(root, 'etc', 'ingot'), { recursive: true });
    writeFileSync(join(root, 'etc', 'ingot', 'api.crt'), pair.certPem);
    writeFileSync(join(root, 'etc', 'ingot', 'api.key'), pair.keyPem, { mode: 0o600 });
    // The import examples' sources: files with their SHA256SUMS over https and ftp, and a proxy.
    const www = join(root, 'www');
    mkdirSync(join(www, 'pub'), { recursive: true });
    const files = {
      'ovca-2.1.img': pseudoRandom('ovca-2.1', 1_000_000),
      'ovca-2.2.img': pseudoRandom('ovca-2.2', 1_000_000),
      'pub/disk7.img': pseudoRandom('disk7', 700_000),
    };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(www, name), bytes);
    const sum = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    // ovca-2.3.zip: a zip around an ISO (xorriso, Rock Ridge and Joliet), as updates ship.
    mkdirSync(join(root, 'ovca-2.3', 'mgmt_image'), { recursive: true });
    writeFileSync(join(root, 'ovca-2.3', 'mgmt_image', 'install.sh'), '#!/bin/sh\n');
    execFileSync(
      'xorriso',
      ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', join(root, 'ovca-2.3.iso'), join(root, 'ovca-2.3')],
      { stdio: 'pipe' },
    );
    execFileSync('zip', ['-q', '-j', join(www, 'ovca-2.3.zip'), join(root, 'ovca-2.3.iso')]);
    writeFileSync(
      join(www, 'SHA256SUMS'),
      `${sum(files['ovca-2.1.img'])}  ovca-2.1.img\n${sum(readFileSync(join(www, 'ovca-2.3.zip')))}  ovca-2.3.zip\n`,
    );
    const release = await packRelease('0.2.0');
    cpSync(release.file, join(cwd, 'ingot-0.2.0.tgz'));
    cpSync(release.file, join(www, 'pub', 'ingot-0.2.0.tgz'));
    writeFileSync(join(www, 'pub', 'SHA256SUMS'), `${sum(files['pub/disk7.img'])} *disk7.img\n`);
    const tls = makeTestCa(tempDir('ingot-examples-ca-'));
    cpSync(tls.ca, join(cwd, 'ca.pem'));
    const nginx = await startNginx(www, tls);
    const ftp = await startVsftpd(www);
    const proxy = await startTinyproxy();
    sources.push(nginx, ftp, proxy);
    hosts = {
      'https://updates.example': nginx.httpsUrl,
      'ftp://mirror.example': ftp.url,
      'http://proxy.example:3128': proxy.url,
    };
    const pg = await freshPgDatabase(inject('pgUrl'));
    pgUrl = pg.url;
    dropPg = pg.drop;
    const started = await Promise.all(SERVERS.map((name) => startIngot({ name })));
    for (const [i, name] of SERVERS.entries()) servers.set(name, started[i] as IngotServer);
  });
  afterAll(async () => {
    await Promise.all([...servers.values()].map((s) => s.stop()));
    await Promise.all(sources.map((s) => s.stop()));
    await dropPg?.();
  });

  /** The example with its absolute paths under the sandbox and its database on the test's. */
  const asRun = (line: string) =>
    Object.entries(hosts)
      .reduce((l, [host, url]) => l.replaceAll(host, url), line)
      .replace('postgres://ingot@db.example:5432/ingot', pgUrl)
      .replace(/(^|[\s=])\/(?=[a-z])/g, `$1${root}/`);

  it('covers each example once, in the steps below', () => {
    const listed = STEPS.flatMap((s) =>
      'example' in s ? [s.example] : 'serve' in s ? [s.serve] : 'fresh' in s ? [s.fresh] : [],
    );
    const examples = helpExamples(buildProgram()).map((e) => e.example);
    expect([...listed].sort()).toEqual([...examples].sort());
  });

  // Some sixty commands in turn, each a process start: past the suite's default on a busy machine.
  it('runs them', { timeout: 300_000 }, async () => {
    // The examples on one database are nodes of one server: they share its keys (a fresh
    // home's new keys would be refused as another server's).
    let pgHome: string | undefined;
    for (const step of STEPS) {
      if ('serve' in step) {
        const onPg = step.serve.includes('postgres://');
        if (onPg) pgHome ??= tempDir('ingot-example-home-');
        await serveUntilListening(
          asRun(step.serve),
          onPg ? (pgHome as string) : tempDir('ingot-example-home-'),
        );
        continue;
      }
      if ('fresh' in step) {
        const r = await shell(asRun(step.fresh), join(tempDir('ingot-example-home-'), 'home'));
        expect(r.code, `${step.fresh}\n${r.stdout}${r.stderr}`).toBe(0);
        continue;
      }
      const line = 'example' in step ? step.example : step.setup;
      const r = await shell(asRun(line), (servers.get(step.on) as IngotServer).home);
      expect(r.code, `${step.on}$ ${line}\n${r.stdout}${r.stderr}`).toBe(0);
    }
    // The deploy made its missing parents; the site's inventory went where the example said.
    expect(existsSync(join(root, 'images', 'ol9.img'))).toBe(true);
    expect(readFileSync(join(root, 'media', 'usb', 'site-inventory.json'), 'utf8')).toContain('WIN_TC_7');
    // The full snapshot put the hooks back where they were.
    expect(readFileSync(join(root, 'etc', 'ingot-hooks', 'post-deploy.sh'), 'utf8')).toContain('deployed');
  });

  function shell(line: string, home: string): Promise<CliResult> {
    return outcome(spawn('sh', ['-c', line], { cwd, env: envFor(home), stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  function envFor(home: string): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${join(root, 'bin')}:${process.env.PATH ?? ''}`,
      INGOT_HOME: home,
      INGOT_SERVER: undefined,
      INGOT_TOKEN: undefined,
    };
  }

  /** Starts a `serve` example, waits until `ingot status` finds it ready (over https, pinned), then stops it. */
  async function serveUntilListening(line: string, home: string): Promise<void> {
    const own = /^INGOT_HOME=(\S+) /.exec(line)?.[1] ?? home;
    // exec after the assignments: the shell becomes the server, whose pid server.json names.
    const execLine = line.replace(/^((?:\w+=\S+ )*)/, '$1exec ');
    const child = spawn('sh', ['-c', execLine], {
      cwd,
      env: envFor(home),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout.on('data', (d) => {
      logs += d;
    });
    child.stderr.on('data', (d) => {
      logs += d;
    });
    try {
      await waitForServer(own, child, () => logs);
      const status = await shell('ingot status --json', own);
      expect(status.code, `${line}\n${status.stderr}`).toBe(0);
    } finally {
      await stopProcess(child, 'SIGTERM');
    }
  }
});
