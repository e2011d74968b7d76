/**
 * `wsfleet lab up`, the part that runs inside the lab namespace (command.ts builds the images and
 * the namespace first, then runs this there, so that every address below is reachable): start
 * the stand-ins, boot the VMs with the deploy's user-data, and wait until every app VM serves a
 * certificate that the renewer got through the load balancer.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import type { AppValues, RenewerValues } from '../../cloud-init/render.ts';
import { servedCertificate } from '../../daemons/cert-sync/nginx.ts';
import { LabError } from './errors.ts';
import { startLoadBalancer, waitBackendsUp } from './lb.ts';
import { bootAppVm, bootRenewerVm } from './machines.ts';
import { type LabPlan, labPlan, PORTS } from './plan.ts';
import { createLabSecrets, labSecretsOf } from './secrets.ts';
import { serviceCommands, startService, waitListening } from './services.ts';
import { type LabState, type LabTrust, labDir, requireState, writeState } from './state.ts';
import { createTestTls } from './tls.ts';

export interface InsideOptions {
  readonly lab: string;
  readonly stateDir: string;
  readonly apps: number;
  readonly pollInterval: number;
  /** Redis's persistence, as the deploy's tier runs it (config.ts, --redis-persistence). */
  readonly redisPersistence: 'none' | 'rdb';
  /** How cert-sync trusts Pebble's root (config.ts, --trust). */
  readonly trust: LabTrust;
  readonly timeoutMs: number;
  readonly bundle: string;
  /** When `up` started (the images included), for the summary. */
  readonly startedAt: number;
  readonly step: (text: string) => void;
}

function httpsGet(url: string, ca: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca, timeout: timeoutMs, agent: new Agent({ ca, keepAlive: false }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, deadline: number, probe: () => Promise<T | undefined>): Promise<T> {
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new LabError(
        'WSFLEET_LAB_TIMEOUT',
        `${what}: not reached in time${last === undefined ? '' : ` (last: ${last instanceof Error ? last.message : String(last)})`}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Pebble with its own HTTPS certificate for the services' address; resolves with its CA. */
async function startPebble(
  plan: LabPlan,
  dir: string,
  deadline: number,
): Promise<{ state: LabState['services'][string]; caPem: string; rootPem: string }> {
  const tls = await createTestTls({ ips: [plan.services] });
  const pebbleDir = join(dir, 'pebble');
  await mkdir(pebbleDir, { recursive: true });
  await writeFile(join(pebbleDir, 'cert.pem'), tls.certPem);
  await writeFile(join(pebbleDir, 'key.pem'), tls.keyPem, { mode: 0o600 });
  const config = {
    pebble: {
      listenAddress: `${plan.services}:${PORTS.pebble}`,
      managementListenAddress: `${plan.services}:${PORTS.pebbleManagement}`,
      certificate: join(pebbleDir, 'cert.pem'),
      privateKey: join(pebbleDir, 'key.pem'),
      // HTTP-01 goes to port 80 of the name, which the lab's DNS points at the load balancer.
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  };
  await writeFile(join(pebbleDir, 'config.json'), JSON.stringify(config, null, 2));
  const service = startService(
    plan,
    ['pebble', '-config', join(pebbleDir, 'config.json'), '-dnsserver', `${plan.services}:${PORTS.dns}`],
    join(dir, 'pebble.log'),
    // No random 0–15 s pause before each validation; no nonce rejected on purpose.
    { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  );
  await waitListening('pebble', service, plan.services, PORTS.pebble);
  const base = `https://${plan.services}`;
  await until("Pebble's directory", deadline, async () =>
    (await httpsGet(`${base}:${PORTS.pebble}/dir`, tls.caPem)).status === 200 ? true : undefined,
  );
  const root = await httpsGet(`${base}:${PORTS.pebbleManagement}/roots/0`, tls.caPem);
  if (root.status !== 200 || !root.body.includes('BEGIN CERTIFICATE'))
    throw new LabError('WSFLEET_LAB_SERVICE', `Pebble's root: HTTP ${root.status}`);
  return { state: service, caPem: tls.caPem, rootPem: root.body };
}

/** Everything after the images and the namespace: see the file comment. */
export async function upInside(o: InsideOptions): Promise<LabState> {
  const deadline = Date.now() + o.timeoutMs;
  let state = await requireState(o.stateDir, o.lab);
  const plan = labPlan(o.lab, state.subnet);
  const dir = labDir(o.stateDir, o.lab);
  const save = async (next: LabState) => {
    state = next;
    await writeState(o.stateDir, next);
  };

  // The fleet's secrets, made for this lab as a deploy makes them, served by the stand-in.
  const secrets = labSecretsOf(o.stateDir, o.lab);
  await createLabSecrets(secrets);
  o.step('starting Redis, the DNS stand-in, the GCS stand-in and the metadata and Secret Manager stand-in');
  await mkdir(join(dir, 'redis'), { recursive: true });
  const commands = serviceCommands(plan, dir, o.bundle, PORTS, o.redisPersistence, secrets);
  const services = { ...state.services };
  for (const [name, command] of Object.entries(commands)) {
    services[name] = startService(plan, command.argv, join(dir, `${name}.log`), command.env);
    await save({ ...state, services });
  }
  for (const [name, command] of Object.entries(commands)) {
    const service = services[name];
    if (service !== undefined) await waitListening(name, service, plan.services, command.port);
  }
  o.step(`starting Pebble (ACME at https://${plan.services}:${PORTS.pebble}/dir)`);
  const pebble = await startPebble(plan, dir, deadline);
  services.pebble = pebble.state;
  await writeFile(join(dir, 'root.pem'), pebble.rootPem);
  const store = `gs://${plan.bucket}`;
  const gcsEndpoint = `http://${plan.services}:${PORTS.gcs}`;
  const renewer: RenewerValues = {
    certs: [[state.domain]],
    store,
    gcsEndpoint,
    email: `ops@${state.domain}`,
    directoryUrl: `https://${plan.services}:${PORTS.pebble}/dir`,
    directoryCaPem: pebble.caPem,
    dnsServer: `${plan.services}:${PORTS.dns}`,
  };
  const app: AppValues = {
    certs: [[state.domain]],
    store,
    gcsEndpoint,
    renewer: `${plan.renewerAddress}:80`,
    redisUrl: `redis://${plan.services}:${PORTS.redis}`,
    // As deployed: closed, the secrets read at boot by name, the app not started without them.
    tokenSecretFrom: secrets.tokenSecretFrom,
    apiKeyFrom: secrets.apiKeyFrom,
    metadataUrl: `http://${plan.services}:${PORTS.google}`,
    secretManagerUrl: `http://${plan.services}:${PORTS.google}`,
    // Redis asks for AUTH, whose string the VM fetches at boot as a deployed one does.
    redisAuthFrom: secrets.redisInstance,
    redisApi: `http://${plan.services}:${PORTS.google}/v1`,
    // As deployed: cert-sync gets what a staging deploy gives it, and nothing else; Pebble's root
    // takes the place of the staging roots the image ships (machines.ts).
    ...(o.trust === 'as-deployed' ? { staging: true } : { extraRootsPem: pebble.rootPem }),
    pollInterval: o.pollInterval,
  };
  await save({
    ...state,
    services,
    trust: o.trust,
    rootPem: pebble.rootPem,
    pebbleCaPem: pebble.caPem,
    store,
    gcsEndpoint,
    values: { app, renewer },
  });

  const apps = Array.from({ length: o.apps }, (_, i) => i + 1);
  o.step(
    `starting the load balancer on ${plan.vip}:80 and :443 (client-IP affinity, health checks on /readyz)`,
  );
  services.lb = await startLoadBalancer(
    plan,
    dir,
    apps.map((i) => ({ name: `app-${i}`, id: i, address: plan.appAddress(i) })),
  );
  await save({ ...state, services, nextApp: o.apps + 1 });

  o.step(`booting the renewer VM and ${o.apps} app VM${o.apps > 1 ? 's' : ''}`);
  const booted = await Promise.all([
    bootRenewerVm(plan, dir, state, (m) => o.step(m)),
    ...apps.map((i) => bootAppVm(plan, dir, state, i, (m) => o.step(m))),
  ]);
  await save({ ...state, machines: [...state.machines, ...booted.map((b) => b.state)] });
  await Promise.all(booted.map((b) => b.ready(Math.max(deadline - Date.now(), 1_000))));
  o.step('every VM booted; waiting for the first certificate on every app VM');

  for (const i of apps) {
    const served = await until(`a certificate served by app-${i}`, deadline, () =>
      servedCertificate({
        host: plan.appAddress(i),
        port: 443,
        servername: state.domain,
        timeoutMs: 3_000,
        // Only a certificate Pebble issued for the name counts, not nginx's placeholder.
        trust: pebble.rootPem,
      }).catch(() => undefined),
    );
    o.step(`app-${i} (${plan.appAddress(i)}) serves ${state.domain}, serial ${served.serial}`);
  }
  await waitBackendsUp(
    plan,
    dir,
    apps.map((i) => `app-${i}`),
    deadline,
  );
  const seconds = Math.round((Date.now() - o.startedAt) / 100) / 10;
  await save({ ...state, ready: { at: new Date().toISOString(), seconds } });
  return state;
}
