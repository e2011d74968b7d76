/**
 * What the deploy checks once the APIs are enabled and before it creates anything: both images
 * exist and boot with Secure Boot (`UEFI_COMPATIBLE`, which the templates' shielded VMs need; a
 * template takes an image without it, and every VM of the group then fails to be created), and no
 * organization policy it can read refuses the renewer's external address. Every problem at once,
 * with what to do; a policy the account may not read (or an API not enabled) is skipped.
 */
import { CONSTRAINTS, checkImages, type GcloudRead, listAllows } from '../../images/build/gce-preflight.ts';
import { DeployError } from './errors.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { FleetImages } from './images.ts';

export interface PreflightReads {
  /** Reads that wait for Google to settle (the deploy's gcloud `describe`). */
  readonly describe: GcloudRead;
  /** Reads that fail at once (the policies: a refusal there only skips the check). */
  readonly quick: GcloudRead;
}

export async function deployProblems(
  config: FleetConfig,
  images: FleetImages,
  reads: PreflightReads,
): Promise<string[]> {
  const problems = await checkImages(reads.describe, config.project, [
    ...new Set([images.app, images.renewer]),
  ]);
  let policy: unknown;
  try {
    policy = await reads.quick([
      'resource-manager',
      'org-policies',
      'describe',
      CONSTRAINTS.vmExternalIpAccess,
      '--effective',
    ]);
  } catch {
    policy = undefined;
  }
  if (!listAllows(policy, `projects/${config.project}/zones/${config.zones[0] ?? ''}/instances/new`))
    problems.push(
      `the organization policy ${CONSTRAINTS.vmExternalIpAccess} refuses external IP addresses on ${config.project}, and the renewer's VM has one (it answers Let's Encrypt's HTTP-01 challenges and reaches the ACME server): ask for an exception for this project`,
    );
  return problems;
}

/** Throws WSFLEET_PREFLIGHT_FAILED listing deployProblems, if any. */
export async function deployPreflight(
  config: FleetConfig,
  images: FleetImages,
  reads: PreflightReads,
): Promise<void> {
  const problems = await deployProblems(config, images, reads);
  if (problems.length > 0)
    throw new DeployError(
      'WSFLEET_PREFLIGHT_FAILED',
      `the deploy would fail; nothing was created. Fix first:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
}
