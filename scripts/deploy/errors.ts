/**
 * Errors of the deploy commands. A DeployError carries a stable code like the daemons'
 * WsfleetError (described in daemons/shared/errors.ts); the command prints it and exits 1. A
 * FleetConfigError is a ConfigError, so the CLI exits 78 with every problem listed.
 */
import { ConfigError, type ErrorCode, errorFamily } from '../../daemons/shared/errors.ts';

export type DeployErrorCode = Extract<
  ErrorCode,
  | 'WSFLEET_GCLOUD_UNAVAILABLE'
  | 'WSFLEET_GCLOUD_DENIED'
  | 'WSFLEET_GCLOUD_SERVICE_DISABLED'
  | 'WSFLEET_GCLOUD_FAILED'
  | 'WSFLEET_DEPLOY_MISSING'
  | 'WSFLEET_DEPLOY_PENDING'
  | 'WSFLEET_DEPLOY_UNSAFE_REDIS'
  | 'WSFLEET_ROTATION_TOO_EARLY'
  | 'WSFLEET_DEPLOY_DNS_TIMEOUT'
  | 'WSFLEET_DEPLOY_WAIT_TIMEOUT'
  | 'WSFLEET_TEARDOWN_UNCONFIRMED'
  | 'WSFLEET_PREFLIGHT_FAILED'
>;

export class DeployError extends errorFamily<DeployErrorCode>('DeployError') {}

/** The fleet config (or a check on it) refused: every problem at once, before any gcloud call. */
export class FleetConfigError extends ConfigError {
  override readonly code: ErrorCode = 'WSFLEET_FLEET_CONFIG_INVALID';

  constructor(problems: readonly string[]) {
    super(problems);
    this.name = 'FleetConfigError';
  }
}
