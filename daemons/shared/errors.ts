/**
 * The error classes every wsfleet command shares. Each carries a stable `code` (listed in README,
 * kept in step by test/unit/error-codes.test.ts) and, where one exists, the `cause` it wraps.
 */

/** Every error code a wsfleet command may report, with what it means. */
export const ERROR_CODES = {
  WSFLEET_CONFIG_INVALID: 'A flag or environment variable has a value that is not allowed (exit 78).',
  WSFLEET_USAGE: 'The command line names no known command (exit 64).',
  WSFLEET_SHUTDOWN_TIMEOUT: 'Graceful shutdown did not finish before its deadline (exit 1).',
  WSFLEET_REDIS_UNAVAILABLE: 'Redis could not be reached, so a publish could not be made durable.',
  WSFLEET_BROKER_CLOSED: 'The message broker was closed while an operation was waiting on it.',
  WSFLEET_ACME_FAILED: 'The ACME CA refused or failed a request; the log gives its problem type and detail.',
  WSFLEET_ACME_RATE_LIMITED:
    'The ACME CA rate-limited the account or the names; retried after its Retry-After.',
  WSFLEET_ACME_UNREACHABLE: 'The ACME CA could not be reached (DNS, connection, TLS or timeout).',
  WSFLEET_ACME_CHALLENGE_FAILED: 'The CA could not validate a name over HTTP-01; the log names it.',
  WSFLEET_CERTIFICATE_INVALID:
    'A certificate chain could not be parsed, does not verify, or does not match its key.',
  WSFLEET_SELF_CHECK:
    'A name does not reach this renewer over HTTP, so no order was placed; the message says where it broke.',
  WSFLEET_RATE_GUARD:
    'The name set already got as many certificates in the last 7 days as its lifetime needs (2 for the usual lifetimes); the next is allowed later.',
  WSFLEET_RENEWAL_FAILED: 'A renewal failed for a reason without a more specific code.',
  WSFLEET_NGINX_TEST_FAILED:
    'nginx refused the configuration (`nginx -t`); the previous one stays in force and the message quotes nginx.',
  WSFLEET_NGINX_RELOAD_FAILED:
    'nginx could not be reloaded; it keeps serving with its previous configuration.',
  WSFLEET_NGINX_SERVED_MISMATCH:
    'After a reload nginx does not serve the expected certificate, or could not be reached to check.',
  WSFLEET_PACKER_UNAVAILABLE:
    'packer is not on PATH, does not run, or is older than 1.6.6 (Debian 12: `apt-get install packer`).',
  WSFLEET_IMAGE_INPUT:
    'An input of the image is missing or wrong: the bundle, the pinned Node runtime (fetched with `npm pack` and checked against its integrity), or a template.',
  WSFLEET_IMAGE_INVALID:
    '`packer fmt -check` or `packer validate` refused a template; the message quotes packer.',
  WSFLEET_IMAGE_BUILD_FAILED:
    "packer build failed or overran --build-timeout; the message quotes packer's errors and names the full log.",
  WSFLEET_IMAGE_NO_ARTIFACT:
    'packer build finished without an artifact (for example, -only matched no build): nothing was built.',
  WSFLEET_LAB_PREREQUISITES:
    '`wsfleet lab` cannot run here (not Linux, not root, or a tool is missing): the message lists what is missing and the Debian packages that have it.',
  WSFLEET_LAB_MACHINE:
    "A lab VM (systemd-nspawn machine) did not start, did not finish booting, or a command inside it failed; the message holds cloud-init's and systemd's report.",
  WSFLEET_LAB_SERVICE:
    'A lab service (Redis, Pebble, pebble-challtestsrv, the GCS stand-in, haproxy) did not start; the message holds the end of its log.',
  WSFLEET_LAB_TIMEOUT:
    'The lab did not reach its goal (every app VM serving a certificate) within `--timeout`; the lab is left up for `wsfleet lab status`.',
  WSFLEET_LAB_STATE: 'No lab of that name is up, or its state file cannot be read.',
  WSFLEET_IMAGE_TOOLS:
    'A local image cannot be built on this machine (not Linux, not root, or mmdebstrap missing): the message lists what is missing.',
  WSFLEET_PREFLIGHT_FAILED:
    'A check before `wsfleet images build --target gce` or `wsfleet deploy` found what would make it fail (no Application Default Credentials, no build network or SSH rule, an organization policy, an image without UEFI_COMPATIBLE); every problem is listed with what to do, and nothing was created.',
  WSFLEET_FLEET_CONFIG_INVALID:
    'The fleet config file is missing, unreadable or invalid, or a check that gcloud does not make refused it (exit 78); every problem is listed and nothing was called.',
  WSFLEET_GCLOUD_UNAVAILABLE:
    'gcloud is not on PATH or does not start (install the Google Cloud CLI, or name it with --gcloud).',
  WSFLEET_GCLOUD_DENIED:
    'gcloud is not logged in, or the account lacks a permission (HTTP 401/403); the message quotes gcloud and names the command.',
  WSFLEET_GCLOUD_SERVICE_DISABLED:
    'An API the command needs stayed disabled (403 SERVICE_DISABLED) for the whole --settle-timeout, also after `wsfleet deploy` enabled it; the message names it and how to enable it.',
  WSFLEET_GCLOUD_FAILED:
    "A gcloud command failed or overran its time limit; the message quotes gcloud's error and the command. Running the command again resumes.",
  WSFLEET_SECRET_UNAVAILABLE:
    "A secret could not be read from Secret Manager (through gcloud, or on a VM through its metadata server's token): the message names the secret and why; its value is never shown.",
  WSFLEET_DEPLOY_MISSING:
    'A resource that must already exist does not (for example, `wsfleet rollout` before `wsfleet deploy`).',
  WSFLEET_DEPLOY_PENDING:
    'A resource the next step needs is still being made (a Redis instance CREATING after gcloud stopped waiting); run `wsfleet deploy` again in a few minutes, it continues.',
  WSFLEET_REDIS_AUTH_UNAVAILABLE:
    "wsfleet-app-redis-auth.service could not read the Memorystore instance's AUTH string (metadata server or Redis API unreachable, a refusal such as a missing `redis.instances.getAuthString` permission, or AUTH off); the app does not start. `journalctl -u wsfleet-app-redis-auth` says which.",
  WSFLEET_DEPLOY_UNSAFE_REDIS:
    "The fleet's Memorystore instance has no in-transit encryption or no AUTH (made by hand or by an older deploy); the deploy will not send data to it in the clear. Delete it (its history is lost) so the deploy creates it closed.",
  WSFLEET_ROTATION_TOO_EARLY:
    '`wsfleet rollout --finish-rotation` before every token signed with the previous token secret can have expired (the new version is younger than --max-token-ttl); nothing was changed. The message says from when it may run.',
  WSFLEET_DEPLOY_DNS_TIMEOUT:
    "A certificate name did not resolve to the load balancer's address within --dns-timeout; set the printed DNS records and run `wsfleet deploy` again (it continues), or pass --no-wait-dns.",
  WSFLEET_DEPLOY_WAIT_TIMEOUT:
    'The load balancer reported no healthy VM, or a certificate was not served, within --wait-timeout; what is deployed stays.',
  WSFLEET_TEARDOWN_UNCONFIRMED:
    '`wsfleet teardown` was not confirmed: answer the prompt with the project id, or pass --yes.',
  WSFLEET_STORE_PRECONDITION:
    'A store write lost a race: the object changed since it was read (HTTP 412 in GCS).',
  WSFLEET_STORE_UNAVAILABLE:
    'The certificate store could not be reached or failed; the operation is retried, never half-applied.',
  WSFLEET_STORE_DENIED:
    'The certificate store refused access (check the service account or file permissions).',
  WSFLEET_STORE_CORRUPT: 'An object in the certificate store is not what wsfleet wrote; it is left alone.',
  WSFLEET_STORE_URL: 'The store URL is neither gs://bucket[/prefix] nor file:///path.',
  WSFLEET_STORE_INVALID:
    'A store key or record is not allowed (a `.`/`..` or empty segment, NUL, too long, or a bad field); nothing was written.',
  WSFLEET_CERT_REFUSED: 'cert-sync refused a certificate (reason in the log); the last good one stays.',
  WSFLEET_CERT_INSTALL_FAILED: 'Installing a certificate failed; cert-sync rolled back to the last good one.',
  WSFLEET_CERT_NOT_SERVED: 'After an install and reload, nginx still serves another serial.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WsfleetError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WsfleetError';
    this.code = code;
  }
}

/**
 * The base of a family of errors whose codes are a subset of ERROR_CODES, so that `err.code` is
 * typed by family: `class ImageError extends errorFamily<ImageErrorCode>('ImageError') {}`.
 */
export function errorFamily<C extends ErrorCode>(name: string) {
  return class extends WsfleetError {
    declare readonly code: C;

    constructor(code: C, message: string, options?: { cause?: unknown }) {
      super(code, message, options);
      this.name = name;
    }
  };
}

/** A configuration that cannot run: lists every problem at once. */
export class ConfigError extends WsfleetError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('WSFLEET_CONFIG_INVALID', `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Exit codes from sysexits.h that the CLI uses. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  /** Not attempted now for a reason that passes (EX_TEMPFAIL): a backoff or the rate guard. */
  TEMPFAIL: 75,
  CONFIG: 78,
} as const;
