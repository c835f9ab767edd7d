#!/bin/sh
//bin/sh -c :; exec node --max-semi-space-size=4 "$0" "$@"
// ringcast [flags]: parse the configuration (exit 2 on a bad flag, value or key), start the
// server (exit 1 when --transport uring cannot run), drain on SIGTERM/SIGINT and exit 0.
import { readFileSync } from 'node:fs';
import { ConfigError, helpText, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { Primary } from './cluster/primary.js';
import { resolveWorkers } from './cluster/cpus.js';
import { installMemoryProbe } from './memory-probe.js';
import { RingcastServer, TransportUnavailableError } from './server.js';

async function main(): Promise<number | undefined> {
  installMemoryProbe();
  let action;
  try {
    action = loadConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ringcast: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (action.kind === 'help') {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  if (action.kind === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  const { config } = action;
  const log = createLogger(config.logLevel);
  // Every path from a transport callback ends in an answer or an abort of its connection; a
  // rejection that still escapes is a bug to log, not a reason to drop every other client.
  process.on('unhandledRejection', (err: unknown) => {
    log.error({ event: 'unhandled_rejection', err: err instanceof Error ? err.stack : String(err) }, 'unhandled rejection');
  });
  const { workers, why } = resolveWorkers(config.workers);
  let server: RingcastServer | Primary;
  try {
    if (workers > 1) {
      log.info({ event: 'workers', workers, why }, `${workers} workers (${why})`);
      server = new Primary(config, workers, log);
    } else {
      server = new RingcastServer(config, log);
    }
    await server.listen();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ringcast: ${err.message}\n`);
      return 2;
    }
    if (err instanceof TransportUnavailableError) {
      log.fatal({ event: 'transport_unavailable', transport: 'uring', reason: err.message }, err.message);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    log.fatal({ event: 'listen_failed', code: e.code, err: e.message }, `cannot listen: ${e.message}`);
    return 1;
  }
  const onSignal = (signal: string) => {
    log.info({ event: 'signal', signal }, `${signal}: draining`);
    server.drain().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ event: 'drain_failed', err: String(err) }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  if (server instanceof Primary && process.env.RINGCAST_FAULT_INJECTION !== undefined) {
    // tests only: SIGUSR2 injects the fault RINGCAST_FAULT_INJECTION names (docs/workers.md)
    const primary = server;
    process.on('SIGUSR2', () => primary.injectFault());
  }
  return undefined;
}

main().then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ringcast: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
