/**
 * The stand-in's eventual consistency, as Google's APIs show it to a first deploy:
 *
 * - An API of a new project is disabled until `services:batchEnable` names it, and stays so for
 *   the next `enableLag` requests to it after the enable's operation is done ("If you enabled this API recently, wait
 *   a few minutes for the action to propagate to our systems and retry"): 403 PERMISSION_DENIED
 *   with the legacy reason `accessNotConfigured` and an ErrorInfo of reason SERVICE_DISABLED, the
 *   body Google sends (google.rpc.ErrorInfo; the message gcloud's api_enablement.py matches).
 * - A new service account is unknown to other services' IAM policies for the next `iamLag`
 *   policies that name it: each is refused with 400 "Service account … does not exist." (reason
 *   `invalid`), as Cloud Storage answers (Terraform's and Pulumi's docs warn of this delay).
 *
 * Google's delays are time; the stand-in counts requests instead, so that a test shows the same
 * thing on a fast machine and on a loaded one.
 */
import { ApiError, type Consistency, type Json, type RecordedRequest } from './gcloud-endpoint-model.ts';

export const PROJECT_NUMBER = '123456789012';

/** The API each path prefix belongs to; Service Usage and Resource Manager are always on. */
const SERVICES: readonly (readonly [string, string, string])[] = [
  ['/compute/', 'compute.googleapis.com', 'Compute Engine API'],
  ['/iam/', 'iam.googleapis.com', 'Identity and Access Management (IAM) API'],
  ['/storage/', 'storage.googleapis.com', 'Cloud Storage JSON API'],
  ['/redis/', 'redis.googleapis.com', 'Google Cloud Memorystore for Redis API'],
];

export function serviceDisabled(service: string, title: string): ApiError {
  const activationUrl = `https://console.developers.google.com/apis/api/${service}/overview?project=${PROJECT_NUMBER}`;
  const message = `${title} has not been used in project ${PROJECT_NUMBER} before or it is disabled. Enable it by visiting ${activationUrl} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.`;
  const body: Json = {
    error: {
      code: 403,
      message,
      errors: [
        {
          message,
          domain: 'usageLimits',
          reason: 'accessNotConfigured',
          extendedHelp: 'https://console.developers.google.com',
        },
      ],
      status: 'PERMISSION_DENIED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'SERVICE_DISABLED',
          domain: 'googleapis.com',
          metadata: {
            service,
            consumer: `projects/${PROJECT_NUMBER}`,
            activationUrl,
            serviceTitle: title,
            containerInfo: PROJECT_NUMBER,
          },
        },
        { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
        {
          '@type': 'type.googleapis.com/google.rpc.Help',
          links: [{ description: 'Google developers console API activation', url: activationUrl }],
        },
      ],
    },
  };
  return new ApiError(403, message, body);
}

/** Throws SERVICE_DISABLED when the request's API is not (yet) enabled. */
export function checkEnabled(consistency: Consistency, request: RecordedRequest): void {
  if (!consistency.apisDisabled) return;
  const entry = SERVICES.find(([prefix]) => request.path.startsWith(prefix));
  if (entry === undefined) return;
  const [, service, title] = entry;
  const left = consistency.enabled.get(service);
  if (left === undefined) throw serviceDisabled(service, title);
  if (left > 0) {
    consistency.enabled.set(service, left - 1);
    throw serviceDisabled(service, title);
  }
}

/** Records the APIs a batchEnable turned on. */
export function recordEnabled(consistency: Consistency, services: readonly string[]): void {
  for (const service of services)
    if (!consistency.enabled.has(service)) consistency.enabled.set(service, consistency.enableLag);
}

/** Records a new service account, unknown to the next `iamLag` policies that name it. */
export function recordAccount(consistency: Consistency, email: string): void {
  consistency.unknownAccounts.set(email, consistency.iamLag);
}

/** Throws 400 when a policy names a service account that bucket policies do not know yet. */
export function checkPolicyMembers(consistency: Consistency, bindings: unknown): void {
  const members = (Array.isArray(bindings) ? (bindings as Json[]) : []).flatMap((b) =>
    Array.isArray(b.members) ? b.members.map(String) : [],
  );
  for (const member of members) {
    if (!member.startsWith('serviceAccount:')) continue;
    const email = member.slice('serviceAccount:'.length);
    const left = consistency.unknownAccounts.get(email) ?? 0;
    if (left > 0) {
      consistency.unknownAccounts.set(email, left - 1);
      throw new ApiError(400, `Service account ${email} does not exist.`);
    }
  }
}
