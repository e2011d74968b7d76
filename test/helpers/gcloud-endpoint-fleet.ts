/**
 * A fleet to deploy in tests: the API stand-in with the images the config names, a fleet config
 * file in a temporary folder, image manifests as `wsfleet images build` writes them, a TLS server
 * on 127.0.0.1 serving a certificate for the fleet's name (what the load balancer's address
 * serves once the renewer has one), and a way to run a deploy command with its output captured.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { Io } from '../../scripts/deploy/command-io.ts';
import {
  type EndpointOptions,
  type GcloudEndpoint,
  type RecordedRequest,
  startGcloudEndpoint,
} from './gcloud-endpoint.ts';

export const PROJECT = 'proj-test';
/** The images a fleet fixture's first deploy takes (`addFirstImages`). */
export const APP_IMAGE = 'wsfleet-app-0-1-0-111111111111';
export const RENEWER_IMAGE = 'wsfleet-renewer-0-1-0-111111111111';

/** Makes both first images exist, built at the start of 2026. */
export async function addFirstImages(fleet: Pick<FleetFixture, 'addImage'>): Promise<void> {
  await fleet.addImage('app', APP_IMAGE, '2026-01-01T00:00:00.000Z');
  await fleet.addImage('renewer', RENEWER_IMAGE, '2026-01-01T00:00:00.000Z');
}
/** Path prefixes as `mutations()` shortens them: Compute Engine's, and the fleet region's in it. */
export const C = '/compute/v1/…';
export const R = `${C}/regions/europe-west4`;
export const DOMAIN = 'ws.example.com';

/** The config the tests deploy; `overrides` replace top-level keys. */
export function fleetDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    project: PROJECT,
    region: 'europe-west4',
    zones: ['europe-west4-a', 'europe-west4-b', 'europe-west4-c'],
    certificates: [[DOMAIN]],
    acme: { email: 'ops@example.com', directory: 'staging' },
    bucket: `${PROJECT}-wsfleet-certs`,
    ...overrides,
  };
}

/** The changing requests of a deploy on an empty project, in order (`mutations()` form). */
export function freshDeploy({ redis }: { redis: boolean }): string[] {
  const bucket = `/storage/v1/b/${PROJECT}-wsfleet-certs`;
  return [
    'POST /serviceusage/v1/…/services:batchEnable',
    `POST ${C}/global/networks`,
    `POST ${R}/subnetworks`,
    'POST /iam/v1/…/serviceAccounts',
    'POST /iam/v1/…/serviceAccounts',
    'POST /storage/v1/b',
    `PUT ${bucket}/iam`,
    `PUT ${bucket}/iam`,
    `POST ${C}/global/firewalls`,
    `POST ${C}/global/firewalls`,
    `POST ${C}/global/firewalls`,
    `POST ${R}/addresses`,
    `POST ${R}/addresses`,
    // The fleet's secrets, each made once and readable by the app account alone.
    ...['wsfleet-token-secret', 'wsfleet-api-key'].flatMap((id) => [
      'POST /secretmanager/v1/…/secrets',
      `POST /secretmanager/v1/…/secrets/${id}:addVersion`,
      `POST /secretmanager/v1/…/secrets/${id}:setIamPolicy`,
    ]),
    // With Memorystore: the AUTH string's custom role, bound to the app account on the project.
    ...(redis
      ? ['POST /iam/v1/…/roles', `POST /cloudresourcemanager/v1/projects/${PROJECT}:setIamPolicy`]
      : []),
    `POST ${R}/healthChecks`,
    `POST ${R}/healthChecks`,
    `POST ${R}/healthChecks`,
    ...(redis ? ['POST /redis/v1/…/locations/europe-west4/instances'] : []),
    `POST ${C}/global/instanceTemplates`,
    `POST ${R}/instanceGroupManagers`,
    `POST ${R}/backendServices`,
    `PUT ${R}/backendServices/wsfleet-app`,
    `POST ${R}/forwardingRules`,
    // The renewer last, once the names resolve to the load balancer's address.
    ...RENEWER_MUTATIONS,
  ];
}

/** The renewer's template, group and its VM: the deploy's last steps. */
export const RENEWER_MUTATIONS = [
  `POST ${C}/global/instanceTemplates`,
  `POST ${C}/zones/europe-west4-a/instanceGroupManagers`,
  `POST ${C}/zones/europe-west4-a/instanceGroupManagers/wsfleet-renewer/createInstances`,
] as const;

export interface CommandResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export type DeployCommand = (
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Io,
) => Promise<number>;

export interface FleetFixture {
  readonly endpoint: GcloudEndpoint;
  readonly dir: string;
  readonly configPath: string;
  readonly imagesDir: string;
  /** The port of the TLS server that stands for the load balancer's port 443. */
  readonly httpsPort: number;
  /** Writes a manifest of a gce build of `role` and makes its image exist. */
  addImage(role: 'app' | 'renewer', image: string, builtAt: string): Promise<void>;
  run(command: DeployCommand, argv: readonly string[], ask?: Io['ask']): Promise<CommandResult>;
  close(): Promise<void>;
}

/** A request that changes something (the POSTs of reads and of operation waits do not). */
export function isMutation(request: RecordedRequest): boolean {
  if (request.method === 'GET') return false;
  return !/(\/(listManagedInstances|listPerInstanceConfigs|getHealth|wait)|:getEffectiveOrgPolicy|:getIamPolicy)$/.test(
    request.path,
  );
}

/** `METHOD path` of each mutation, with the project's prefix shortened to `…`. */
export function mutations(requests: readonly RecordedRequest[]): string[] {
  return requests
    .filter(isMutation)
    .map(
      (r) =>
        `${r.method} ${r.path.replace(`/projects/${PROJECT}/`, '/…/').replace(/\/operations\/.*/, '/operations')}`,
    );
}

async function selfSignedCertificate(dir: string): Promise<{ key: string; cert: string }> {
  const keyFile = join(dir, 'lb.key');
  const certFile = join(dir, 'lb.crt');
  await promisify(execFile)(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${DOMAIN}`,
      '-addext',
      `subjectAltName=DNS:${DOMAIN}`,
      '-days',
      '90',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { timeout: 10_000 },
  );
  return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
}

export async function startFleetFixture(
  document: Record<string, unknown>,
  endpointOptions: EndpointOptions = {},
): Promise<FleetFixture> {
  try {
    await promisify(execFile)('sh', ['-c', 'command -v gcloud'], { timeout: 5_000 });
  } catch {
    throw new Error(
      'gcloud is not installed: the deploy tests run the real Google Cloud CLI (package google-cloud-cli)',
    );
  }
  const endpoint = await startGcloudEndpoint(endpointOptions);
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-fleet-'));
  const configPath = join(dir, 'wsfleet.yaml');
  const imagesDir = join(dir, 'images', 'gce');
  await mkdir(imagesDir, { recursive: true });
  await writeFile(configPath, stringify(document));
  const tls: Server = createServer(await selfSignedCertificate(dir), (socket) => socket.end());
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  const httpsPort = (tls.address() as AddressInfo).port;
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    ...endpoint.env,
    // Each call is a new gcloud process: its log files would only slow the tests down.
    CLOUDSDK_CORE_DISABLE_FILE_LOGGING: '1',
  };

  return {
    endpoint,
    dir,
    configPath,
    imagesDir,
    httpsPort,
    async addImage(role, image, builtAt) {
      endpoint.addImage(PROJECT, image, `wsfleet-${role}`);
      const manifest = {
        format: 'wsfleet.image-manifest/1',
        role,
        target: 'gce',
        image,
        imageFamily: `wsfleet-${role}`,
        artifactId: image,
        project: PROJECT,
        zone: 'europe-west4-a',
        wsfleetVersion: '0.1.0',
        contentHash: image.slice(-12),
        templateHash: 'test',
        nodeVersion: '22.23.3',
        packerVersion: '1.6.6',
        gitRevision: null,
        builtAt,
        durationMs: 1000,
      };
      await writeFile(join(imagesDir, `${image}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
    },
    async run(command, argv, ask) {
      let out = '';
      let err = '';
      const io: Io = {
        out: (text) => {
          out += text;
        },
        err: (text) => {
          err += text;
        },
        ...(ask === undefined ? {} : { ask }),
      };
      const code = await command(['--config', configPath, ...argv], env, io);
      return { code, out, err };
    },
    async close() {
      await new Promise<void>((resolve) => tls.close(() => resolve()));
      await endpoint.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
