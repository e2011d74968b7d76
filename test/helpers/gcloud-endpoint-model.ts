/**
 * What the Google Cloud API stand-in keeps and how it answers errors: resources by path, Google's
 * JSON error body, and the shared counter that names operations and assigns ids.
 */

export type Json = { [key: string]: unknown };

export interface RecordedRequest {
  readonly method: string;
  /** Path without the API prefix's host, e.g. `/compute/v1/projects/p/global/firewalls`. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The parsed JSON body, or undefined without one. */
  readonly body: Json | undefined;
  /** The HTTP status it was answered with (0 until answered). */
  status: number;
}

/** Eventual consistency's state (gcloud-endpoint-consistency.ts acts on it). */
export interface Consistency {
  /** APIs start disabled (a new project) instead of enabled. */
  readonly apisDisabled: boolean;
  /** How many requests an enabled API still refuses with SERVICE_DISABLED. */
  readonly enableLag: number;
  /** How many bucket policies naming a new service account are refused. */
  readonly iamLag: number;
  /** Enabled APIs, with the refusals each has left. */
  readonly enabled: Map<string, number>;
  /** New service accounts (by email), with the refusals each has left. */
  readonly unknownAccounts: Map<string, number>;
}

export interface EndpointState {
  origin: string;
  readonly resources: Map<string, Json>;
  health: 'HEALTHY' | 'UNHEALTHY';
  /** The address a reserved external IP gets (the tests serve TLS there). */
  readonly externalAddress: string;
  /** An organization policy constraint every VM creation violates (`constraints/…`), if any. */
  orgPolicyRefusal?: string;
  /**
   * The project's default network tier: what an external address, forwarding rule or access
   * config gets when its request names none (Google's default is PREMIUM).
   */
  readonly defaultNetworkTier: 'PREMIUM' | 'STANDARD';
  /** Effective organization policies by constraint (`booleanPolicy` or `listPolicy`). */
  readonly orgPolicies: Map<string, Json>;
  /** How many gets or waits of a Compute operation answer RUNNING before DONE. */
  readonly operationPolls: number;
  /** False: reading a policy is refused (403). */
  readonly orgPoliciesReadable: boolean;
  /** Eventual consistency (gcloud-endpoint-consistency.ts). */
  readonly consistency: Consistency;
  counter: number;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

const REASONS: Record<number, string> = {
  400: 'invalid',
  403: 'forbidden',
  404: 'notFound',
  409: 'alreadyExists',
  429: 'rateLimitExceeded',
  500: 'backendError',
  503: 'backendError',
};

/** An API error answered as Google's JSON error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The whole body, when Google sends more than the usual fields (ErrorInfo details). */
    private readonly custom?: Json,
  ) {
    super(message);
  }

  body(): Json {
    if (this.custom !== undefined) return this.custom;
    return {
      error: {
        code: this.status,
        message: this.message,
        status: STATUS_NAMES[this.status] ?? 'UNKNOWN',
        errors: [{ message: this.message, domain: 'global', reason: REASONS[this.status] ?? 'unknown' }],
      },
    };
  }
}

export function notFound(path: string): ApiError {
  return new ApiError(404, `The resource '${path}' was not found`);
}

export function nextId(state: EndpointState): string {
  state.counter += 1;
  return String(1_000_000 + state.counter);
}

/** The resource at `path`, or a 404. */
export function existing(state: EndpointState, path: string): Json {
  const found = state.resources.get(path);
  if (found === undefined) throw notFound(path);
  return found;
}

/** Resources directly under `collection` (one path segment deeper). */
export function listUnder(state: EndpointState, collection: string): Json[] {
  const prefix = `${collection}/`;
  return [...state.resources.entries()]
    .filter(([path]) => path.startsWith(prefix) && !path.slice(prefix.length).includes('/'))
    .map(([, value]) => value);
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
