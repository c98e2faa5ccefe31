import { resolve } from 'node:path';
import type { Command } from 'commander';
import { examples } from '../cli/command-kit.js';
import { resolveHome } from '../config/home.js';
import {
  DEFAULT_AUDIT_DAYS,
  DEFAULT_HISTORY_DAYS,
  DEFAULT_LISTEN,
  DEFAULT_PEER_LISTEN,
} from '../config/server-config.js';
import { homePaths } from '../store/paths.js';

export function serveCommand(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'Run the Ingot server for this INGOT_HOME (default ~/.ingot): REST API, store, catalog, jobs',
    )
    .option('--name <cluster>', 'cluster name, fixed at first start (default: the host name)')
    .option('--listen <host:port>', `address to listen on (default ${DEFAULT_LISTEN}; port 0 picks one)`)
    .option(
      '--peer-listen <host:port>',
      `address of the peer API, mutual TLS (default ${DEFAULT_PEER_LISTEN}; use 0.0.0.0:7481 to reach other hosts)`,
    )
    .option(
      '--advertise <url>',
      'https URL peers dial, written into the server-data file (default: from --peer-listen)',
    )
    .option(
      '--db <url>',
      'catalog database: sqlite:/path/file.sqlite (default, under INGOT_HOME) or postgres://...',
    )
    .option(
      '--store <where>',
      'chunks and manifests in a directory every node of this server mounts, or in an S3 bucket ' +
        '(s3://BUCKET/PREFIX?endpoint=URL&region=R, credentials from AWS_*), indexed in the --db ' +
        'catalog (default: the local store under INGOT_HOME; or INGOT_STORE, or "store" in config.json)',
    )
    .option(
      '--metrics <access>',
      'open: /metrics needs no token (default; or "metrics" in config.json); token: any valid token',
    )
    .option(
      '--audit-days <n>',
      `drop audit rows older than N days, hourly (default ${DEFAULT_AUDIT_DAYS}; 0 keeps them; ` +
        'or INGOT_AUDIT_DAYS, or "auditDays" in config.json)',
    )
    .option(
      '--history-days <n>',
      `drop ended jobs and transfer records older than N days, hourly (default ${DEFAULT_HISTORY_DAYS}; ` +
        '0 keeps them; or INGOT_HISTORY_DAYS, or "historyDays" in config.json)',
    )
    .option(
      '--tls',
      'REST API over https, with a self-signed certificate made at first start (keys/api.crt); ' +
        'a local CLI pins it from server.json (or INGOT_TLS=1, or "tls": true in config.json)',
    )
    .option(
      '--tls-cert <file>',
      'REST API over https with this PEM certificate (implies --tls; or INGOT_TLS_CERT)',
    )
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (or INGOT_TLS_KEY)')
    .option('--log-level <level>', 'pino log level: trace, debug, info, warn, error', 'info')
    .action(
      async (opts: {
        name?: string;
        listen?: string;
        peerListen?: string;
        advertise?: string;
        db?: string;
        store?: string;
        metrics?: string;
        auditDays?: string;
        historyDays?: string;
        tls?: boolean;
        tlsCert?: string;
        tlsKey?: string;
        logLevel: string;
      }) => {
        const home = resolveHome();
        // Loaded here so other commands start without the server's dependencies.
        const { startServer } = await import('./serve.js');
        const server = await startServer({
          home,
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.listen ? { listen: opts.listen } : {}),
          ...(opts.peerListen ? { peerListen: opts.peerListen } : {}),
          ...(opts.advertise ? { advertise: opts.advertise } : {}),
          ...(opts.db ? { db: opts.db } : {}),
          ...(opts.store ? { store: opts.store } : {}),
          ...(opts.metrics ? { metrics: opts.metrics } : {}),
          ...(opts.auditDays !== undefined ? { auditDays: opts.auditDays } : {}),
          ...(opts.historyDays !== undefined ? { historyDays: opts.historyDays } : {}),
          ...(opts.tls ? { tls: true } : {}),
          ...(opts.tlsCert ? { tlsCert: resolve(opts.tlsCert) } : {}),
          ...(opts.tlsKey ? { tlsKey: resolve(opts.tlsKey) } : {}),
          logLevel: opts.logLevel,
        });
        const pin = server.fingerprint ? `  certificate SHA-256: ${server.fingerprint} (--pin)\n` : '';
        process.stderr.write(
          `Ingot server listening on ${server.url} (peers: ${server.peerUrl})\n${pin}` +
            `  data:  ${home}\n  token: ${homePaths(home).token} (a CLI with the same INGOT_HOME finds both)\n`,
        );
        await new Promise<void>((resolve) => {
          const shutdown = () => {
            void server.stop().then(resolve);
          };
          process.once('SIGINT', shutdown);
          process.once('SIGTERM', shutdown);
        });
      },
    );
  examples(cmd, [
    'ingot serve',
    'INGOT_HOME=/srv/ingot ingot serve --name FPPS_1 --listen 0.0.0.0:7480 --peer-listen 0.0.0.0:7481',
    'ingot serve --db postgres://ingot@db.example:5432/ingot',
    'ingot serve --db postgres://ingot@db.example:5432/ingot --store /mnt/shared/ingot',
    'ingot serve --audit-days 90 --history-days 30',
    'ingot serve --tls --listen 0.0.0.0:7480',
    'ingot serve --tls-cert /etc/ingot/api.crt --tls-key /etc/ingot/api.key',
  ]);
}
