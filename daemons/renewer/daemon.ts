/**
 * The renewer daemon, built apart from running it: `createRenewerDaemon(config, deps)` returns
 * `{ start(), close() }`. It listens for HTTP-01 challenges (on a socket systemd passes, or on
 * --http-host:--http-port), serves /metrics and /healthz on --metrics-host:--metrics-port, takes
 * manual renewals on its control socket, and checks certificates on schedule.
 */

import type { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { certificateInfo, chainProblem, keyMatchesCertificate } from '../shared/certificate-info.ts';
import { createAdminServer } from '../shared/http.ts';
import type { Logger } from '../shared/logger.ts';
import type { CertStore } from '../shared/store/cert-store.ts';
import { createAcmeClient } from './acme.ts';
import { type ChallengeServer, createChallengeServer } from './challenge-server.ts';
import { type CertificateSpec, directoryUrl, openCertStore, type RenewerConfig } from './config.ts';
import { type ControlServer, createControlServer, type RenewCommand } from './control.ts';
import { directoryAgent } from './directory-trust.ts';
import { countLookup, createRenewerMetrics, type RenewerMetrics } from './metrics.ts';
import {
  type ChainInfo,
  createRenewer,
  type Outcome,
  type ProgressEvent,
  RenewalError,
  type Renewer,
} from './renewer.ts';
import { createScheduler, type Scheduler } from './scheduler.ts';
import { createResolver, selfCheck } from './self-check.ts';
import { sharedChallenges } from './shared-challenges.ts';

/** Reads what the renewer needs from an issued chain, refusing a chain that is not usable. */
export function inspectIssued(certificatePem: string, privateKeyPem: string): ChainInfo {
  const problem = chainProblem(certificatePem);
  if (problem !== undefined)
    throw new RenewalError('WSFLEET_CERTIFICATE_INVALID', `the CA sent an unusable chain: ${problem}`);
  if (!keyMatchesCertificate(certificatePem, privateKeyPem)) {
    throw new RenewalError('WSFLEET_CERTIFICATE_INVALID', 'the issued certificate does not match its key');
  }
  const info = certificateInfo(certificatePem);
  return {
    serial: info.serial,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    domains: info.dnsNames,
    issuer: info.issuer,
    ariCertId: info.ariCertId ?? '',
  };
}

/** The settings that shape one renewer, from the daemon's or the `renew` command's flags. */
export type RenewerParts = Pick<
  RenewerConfig,
  | 'email'
  | 'staging'
  | 'directoryUrl'
  | 'directoryCa'
  | 'eabKid'
  | 'eabHmacKey'
  | 'profile'
  | 'selfCheck'
  | 'selfCheckPort'
  | 'dnsServer'
  | 'owner'
  | 'leaseSeconds'
>;

export interface RenewerKit {
  readonly renewer: Renewer;
  readonly directoryUrl: string;
}

/** Wires a renewer from its parts: the ACME client, the self-check, the chain inspection. */
export function assembleRenewer(
  config: RenewerParts,
  {
    store,
    challenges,
    log,
    metrics,
    agent,
    now,
  }: {
    store: CertStore;
    challenges: ChallengeServer;
    log: Logger;
    metrics: RenewerMetrics;
    agent?: Agent;
    /** The clock: tests move it into a certificate's renewal window. */
    now?: () => Date;
  },
): RenewerKit {
  const directory = directoryUrl(config);
  // Answers go to the store too, so that another renewer of the store can serve them.
  const shared = sharedChallenges(challenges, store, log);
  const acme = createAcmeClient({
    directoryUrl: directory,
    store,
    challenges: shared,
    log,
    ...(config.email === undefined ? {} : { email: config.email }),
    ...(config.eabKid === undefined || config.eabHmacKey === undefined
      ? {}
      : { eab: { kid: config.eabKid, hmacKey: config.eabHmacKey } }),
    ...(agent !== undefined
      ? { agent }
      : config.directoryCa !== undefined
        ? { agent: directoryAgent(config.directoryCa) }
        : {}),
  });
  const resolver = createResolver(config.dnsServer === undefined ? undefined : [config.dnsServer]);
  const renewer = createRenewer(
    {
      directoryUrl: directory,
      owner: config.owner,
      leaseMs: config.leaseSeconds * 1000,
      ...(config.profile === undefined ? {} : { profile: config.profile }),
    },
    {
      store,
      acme,
      log,
      metrics,
      inspect: inspectIssued,
      ...(now === undefined ? {} : { now }),
      ...(config.selfCheck
        ? {
            selfCheck: (domain: string) =>
              selfCheck({ name: domain, challenges: shared, port: config.selfCheckPort, resolver }),
          }
        : {}),
    },
  );
  return { renewer, directoryUrl: directory };
}

export interface RenewerDaemonDeps {
  readonly log: Logger;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A passed listening socket for challenges (systemd socket activation). */
  readonly challengeFd?: number;
  readonly store?: CertStore;
  readonly agent?: Agent;
  readonly now?: () => Date;
}

export interface RenewerDaemon {
  start(): Promise<{ challenges: AddressInfo | undefined; metrics: AddressInfo }>;
  close(): Promise<void>;
  readonly scheduler: Scheduler;
  readonly metrics: RenewerMetrics;
}

export function createRenewerDaemon(config: RenewerConfig, deps: RenewerDaemonDeps): RenewerDaemon {
  const log = deps.log;
  const store = deps.store ?? openCertStore(config);
  let running = false;
  const metrics = createRenewerMetrics();
  const challenges = createChallengeServer({
    host: config.httpHost,
    port: config.httpPort,
    lookup: (token) => store.challenge(token),
    // /livez on port 80, the autohealing check: this process answers it, started and not stopping.
    live: () => running,
    onLookup: (event) => countLookup(metrics, event),
    log,
    ...(deps.challengeFd === undefined ? {} : { fd: deps.challengeFd }),
  });
  const { renewer, directoryUrl: directory } = assembleRenewer(config, {
    store,
    challenges,
    log,
    metrics,
    ...(deps.agent === undefined ? {} : { agent: deps.agent }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  const scheduler = createScheduler({
    certs: config.cert,
    renewer,
    cron: config.checkCron,
    log,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  const byName = new Map<string, CertificateSpec>(config.cert.map((spec) => [spec.name, spec]));

  async function renew(command: RenewCommand, progress: (event: ProgressEvent) => void): Promise<Outcome[]> {
    if (command.directoryUrl !== undefined && command.directoryUrl !== directory) {
      throw new Error(
        `the running renewer uses ${directory}, not ${command.directoryUrl}; stop it to renew elsewhere`,
      );
    }
    const unknown = command.names.filter((n) => !byName.has(n));
    if (unknown.length > 0) {
      throw new Error(
        `not configured on the running renewer: ${unknown.join(', ')} (configured: ${[...byName.keys()].join(', ')})`,
      );
    }
    const outcomes: Outcome[] = [];
    for (const name of command.names) {
      outcomes.push(
        await scheduler.run(byName.get(name) as CertificateSpec, {
          force: command.force === true,
          ignoreRateGuard: command.ignoreRateGuard === true,
          dryRun: command.dryRun === true,
          progress,
        }),
      );
    }
    return outcomes;
  }

  const control: ControlServer = createControlServer(config.controlSocket, { renew }, log);
  // /healthz answers "the daemon runs" (200 from this process; nothing answers when it is dead,
  // unlike the challenge port, which systemd's socket holds). Whether each certificate is on
  // track is in the body, in `wsfleet_renewer_certificate_on_track` and in `renewer status`.
  const admin = createAdminServer(metrics.registry, () => {
    const tracks = renewer.tracks();
    return {
      status: 200,
      body: {
        status: 'ok',
        directory,
        certificates: config.cert.map((c) => ({
          name: c.name,
          onTrack: tracks.get(c.name)?.onTrack ?? null,
          reason: tracks.get(c.name)?.reason ?? 'not checked yet',
        })),
      },
    };
  });
  let closing: Promise<void> | undefined;

  return {
    scheduler,
    metrics,
    async start() {
      await challenges.start();
      const metricsAddress = await admin.start(config.metricsPort, config.metricsHost);
      await control.start();
      scheduler.start();
      running = true;
      return { challenges: challenges.address(), metrics: metricsAddress };
    },
    close() {
      closing ??= (async () => {
        running = false;
        await scheduler.close();
        await control.close();
        await challenges.close();
        await admin.close();
        log.info('renewer closed');
      })();
      return closing;
    },
  };
}
