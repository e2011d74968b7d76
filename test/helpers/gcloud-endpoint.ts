/**
 * A recording stand-in for the Google Cloud APIs the deploy's gcloud commands call, on 127.0.0.1.
 * The real gcloud is pointed at it with `CLOUDSDK_API_ENDPOINT_OVERRIDES_*` and a fake token, so
 * its requests never leave the machine; every request is recorded (method, path, query, JSON
 * body) and answered like the API: long-running operations are done at once (or only after
 * some polls, `operationPolls`, for Compute Engine, Memorystore and Service Usage alike), and
 * a resource exists after its creation until its deletion.
 * Served: Compute Engine v1 (gcloud-endpoint-compute), Cloud Storage JSON v1, IAM v1, Cloud
 * Resource Manager v1, Memorystore Redis v1, Service Usage v1 and Secret Manager v1
 * (gcloud-endpoint-apis).
 *
 * For failure tests `failNext()` answers the next matching request with an API error; the
 * options make it eventually consistent as Google is (gcloud-endpoint-consistency.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleApis } from './gcloud-endpoint-apis.ts';
import { handleCompute } from './gcloud-endpoint-compute.ts';
import { checkEnabled } from './gcloud-endpoint-consistency.ts';
import { ApiError, type EndpointState, type Json, type RecordedRequest } from './gcloud-endpoint-model.ts';

export type { RecordedRequest } from './gcloud-endpoint-model.ts';

export interface Fault {
  readonly when: (request: RecordedRequest) => boolean;
  readonly status: number;
  readonly message: string;
}

export interface GcloudEndpoint {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Every live resource, by its path (`/compute/v1/projects/p/global/networks/n`). */
  readonly resources: Map<string, Json>;
  /** The environment that points gcloud here, with a fake token and its own config folder. */
  readonly env: Readonly<Record<string, string>>;
  /** Answers the next request that `when` accepts with an error of `status` (once). */
  failNext(fault: Fault): void;
  /**
   * Makes an image exist, as `wsfleet images build` leaves one (`family` as its family), with
   * the guest OS features `features` (default UEFI_COMPATIBLE, as its builds have).
   */
  addImage(project: string, name: string, family?: string, features?: readonly string[]): void;
  /** Backends' health that getHealth reports (default HEALTHY). */
  setHealth(state: 'HEALTHY' | 'UNHEALTHY'): void;
  /** Forgets the recorded requests (the resources stay). */
  clear(): void;
  stop(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** The APIs gcloud is pointed at, each under its own prefix on this server. */
export const API_PREFIXES = {
  COMPUTE: '/compute/v1/',
  STORAGE: '/storage/v1/',
  IAM: '/iam/',
  CLOUDRESOURCEMANAGER: '/cloudresourcemanager/',
  REDIS: '/redis/',
  SERVICEUSAGE: '/serviceusage/',
  SECRETMANAGER: '/secretmanager/',
} as const;

export interface EndpointOptions {
  /** The address a reserved external IP gets (default 127.0.0.1). */
  readonly externalAddress?: string;
  /** A new project: every API disabled until enabled (default: all enabled). */
  readonly apisDisabled?: boolean;
  /** How many requests an API still refuses with SERVICE_DISABLED once enabled (default 0). */
  readonly enableLag?: number;
  /** How many bucket policies naming a new service account are refused (default 0). */
  readonly iamLag?: number;
  /**
   * An organization policy constraint that refuses every VM (for example
   * `constraints/compute.vmExternalIpAccess`, which refuses only VMs with an external address):
   * an instance insert is answered 412 conditionNotMet; the groups exist, their VMs do not, and
   * only the groups' listErrors says why.
   */
  readonly orgPolicyRefusal?: string;
  /**
   * Effective organization policies by constraint, as getEffectiveOrgPolicy answers them
   * (`{ booleanPolicy: { enforced: true } }`, `{ listPolicy: { allValues: 'DENY' } }`).
   * orgPolicyRefusal's constraint is denied here too, so the two tell one story.
   */
  readonly orgPolicies?: Readonly<Record<string, Json>>;
  /**
   * Whether the caller may read the project's policies (default true); false: 403, as for an
   * account without `orgpolicy.policy.get`, so a refusal shows only when it happens.
   */
  readonly orgPoliciesReadable?: boolean;
  /**
   * How many polls of each long-running operation answer it unfinished before it is done: a
   * Compute Engine get or wait (RUNNING, then DONE), a Memorystore or Service Usage
   * operations.get (no `done`, then `done: true`; the instance CREATING, the services disabled
   * until then). Default 0: done at once.
   */
  readonly operationPolls?: number;
  /** The project's default network tier (default PREMIUM, as a new project has). */
  readonly defaultNetworkTier?: 'PREMIUM' | 'STANDARD';
}

export async function startGcloudEndpoint(options: EndpointOptions = {}): Promise<GcloudEndpoint> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-gcloud-'));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'fake-access-token\n');
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const state: EndpointState = {
    origin: '',
    resources: new Map(),
    health: 'HEALTHY',
    externalAddress: options.externalAddress ?? '127.0.0.1',
    consistency: {
      apisDisabled: options.apisDisabled ?? false,
      enableLag: options.enableLag ?? 0,
      iamLag: options.iamLag ?? 0,
      enabled: new Map(),
      unknownAccounts: new Map(),
    },
    counter: 0,
    defaultNetworkTier: options.defaultNetworkTier ?? 'PREMIUM',
    orgPoliciesReadable: options.orgPoliciesReadable ?? true,
    operationPolls: options.operationPolls ?? 0,
    orgPolicies: new Map([
      ...(options.orgPolicyRefusal === undefined
        ? []
        : [[options.orgPolicyRefusal, { listPolicy: { allValues: 'DENY' } }] as [string, Json]]),
      ...Object.entries(options.orgPolicies ?? {}),
    ]),
    ...(options.orgPolicyRefusal === undefined ? {} : { orgPolicyRefusal: options.orgPolicyRefusal }),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', state.origin);
    const text = await readBody(req);
    let body: Json | undefined;
    try {
      body = text === '' ? undefined : (JSON.parse(text) as Json);
    } catch {
      body = { unparsed: text };
    }
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      body,
      status: 0,
    };
    requests.push(request);
    try {
      answer(request, res);
    } catch (err) {
      request.status = err instanceof ApiError ? err.status : 500;
      throw err;
    }
  }

  function answer(request: RecordedRequest, res: ServerResponse): void {
    const fault = faults.findIndex((f) => f.when(request));
    if (fault !== -1) {
      const [f] = faults.splice(fault, 1);
      if (f !== undefined) throw new ApiError(f.status, f.message);
    }
    checkEnabled(state.consistency, request);
    const body = request.path.startsWith(API_PREFIXES.COMPUTE)
      ? handleCompute(state, request)
      : handleApis(state, request);
    request.status = 200;
    send(res, 200, body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof ApiError) send(res, err.status, err.body());
      else send(res, 500, { error: { code: 500, message: String(err), status: 'INTERNAL' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const env: Record<string, string> = {
    CLOUDSDK_CONFIG: join(dir, 'config'),
    CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: tokenFile,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false',
    CLOUDSDK_METRICS_ENVIRONMENT: 'wsfleet-test',
  };
  for (const [api, prefix] of Object.entries(API_PREFIXES)) {
    env[`CLOUDSDK_API_ENDPOINT_OVERRIDES_${api}`] = `${state.origin}${prefix}`;
  }

  return {
    url: state.origin,
    requests,
    resources: state.resources,
    env,
    failNext(fault) {
      faults.push(fault);
    },
    addImage(project, name, family, features = ['UEFI_COMPATIBLE']) {
      const path = `${API_PREFIXES.COMPUTE}projects/${project}/global/images/${name}`;
      state.resources.set(path, {
        kind: 'compute#image',
        id: String(Date.now()),
        name,
        ...(family === undefined ? {} : { family }),
        status: 'READY',
        diskSizeGb: '10',
        guestOsFeatures: features.map((type) => ({ type })),
        selfLink: `${state.origin}${path}`,
      });
    },
    setHealth(health) {
      state.health = health;
    },
    clear() {
      requests.length = 0;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
