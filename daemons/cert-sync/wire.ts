/**
 * cert-sync built from its flags on its real dependencies (the store, nginx and the trusted
 * roots): the opening that `cert-sync run` and `cert-sync sync` share.
 */
import { openCertStore } from '../shared/cert-options.ts';
import { parseCommand } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { createLogger, type Logger, type LoggerOptions } from '../shared/logger.ts';
import { type CertSyncConfig, certSyncOptions, crossProblems } from './config.ts';
import { type CertSync, type CertSyncDeps, createCertSync } from './daemon.ts';
import { createNginx } from './nginx.ts';
import { loadTrustAnchors } from './trust.ts';

async function realDeps(config: CertSyncConfig, log: Logger): Promise<CertSyncDeps> {
  const nginx = createNginx({
    confDir: config.nginxConfDir,
    tlsDir: config.dir,
    httpPort: config.httpPort,
    httpsPort: config.httpsPort,
    appUpstream: config.appUpstream,
    renewer: config.renewer,
    listenAddress: config.nginxListen,
    accessLog: config.nginxAccessLog,
    testCommand: config.nginxTest,
    reloadCommand: config.nginxReload,
    log,
  });
  return {
    store: openCertStore(config),
    nginx,
    log,
    anchors: await loadTrustAnchors(config.extraRoots, { staging: config.staging }),
  };
}

export interface WiredCertSync {
  readonly config: CertSyncConfig;
  readonly log: Logger;
  readonly certSync: CertSync;
}

/**
 * Parses and checks the flags, then builds cert-sync (not started). Undefined after `--help` (the
 * command then exits 0); throws a ConfigError that lists every problem.
 */
export async function wireCertSync(
  usage: string,
  summary: string,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  { logDestination }: { logDestination?: LoggerOptions['destination'] } = {},
): Promise<WiredCertSync | undefined> {
  const parsed = parseCommand(usage, summary, certSyncOptions, argv, env);
  if (parsed === undefined) return undefined;
  const { config } = parsed;
  const problems = crossProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  const log = createLogger({
    name: 'wsfleet-cert-sync',
    level: config.logLevel,
    destination: logDestination,
  });
  return { config, log, certSync: createCertSync(config, await realDeps(config, log)) };
}
