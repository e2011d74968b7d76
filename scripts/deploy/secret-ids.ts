/**
 * The fleet's secrets by name: their Secret Manager ids, and the references
 * (`gcp:PROJECT/SECRET`) the app VMs' user-data gives their boot fetch. Apart from the steps that
 * make them (plan-secrets.ts), so the user-data can name them without the plan.
 */
import type { FleetConfig } from './fleet-config.ts';

export interface FleetSecrets {
  /** Secret id of the token secret (`<name>-token-secret`). */
  readonly tokenSecret: string;
  /** Secret id of the API key (`<name>-api-key`). */
  readonly apiKey: string;
}

export function secretIdsOf(config: Pick<FleetConfig, 'name'>): FleetSecrets {
  return { tokenSecret: `${config.name}-token-secret`, apiKey: `${config.name}-api-key` };
}

/** The fleet's secrets as the app VM's secrets fetch reads them (wsfleet-app-secrets.service). */
export function secretRefsOf(config: Pick<FleetConfig, 'name' | 'project'>): {
  readonly tokenSecretFrom: string;
  readonly apiKeyFrom: string;
} {
  const ids = secretIdsOf(config);
  return {
    tokenSecretFrom: `gcp:${config.project}/${ids.tokenSecret}`,
    apiKeyFrom: `gcp:${config.project}/${ids.apiKey}`,
  };
}
