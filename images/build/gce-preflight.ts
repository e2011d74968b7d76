/**
 * What a Google Cloud project must offer before minutes are spent on it, read with gcloud and
 * judged here: Application Default Credentials for packer, a build network with SSH open, the
 * organization policies that refuse a build VM or a fleet's VMs, and an image that boots with
 * Secure Boot (`UEFI_COMPATIBLE`). Each check returns what to fix, so one run lists it all.
 *
 * `read` runs a gcloud command (project, JSON output and no prompts added) and answers its JSON,
 * undefined when the resource does not exist; it throws when gcloud fails otherwise.
 */

export type GcloudRead = (args: readonly string[]) => Promise<unknown>;

/** The guest OS feature Secure Boot needs: templates ask `--shielded-secure-boot`. */
export const UEFI_COMPATIBLE = 'UEFI_COMPATIBLE';

/** Constraints that refuse what a build or a deploy makes, read with `org-policies describe`. */
export const CONSTRAINTS = {
  requireOsLogin: 'constraints/compute.requireOsLogin',
  vmExternalIpAccess: 'constraints/compute.vmExternalIpAccess',
} as const;

interface OrgPolicy {
  readonly booleanPolicy?: { readonly enforced?: boolean };
  readonly listPolicy?: {
    readonly allValues?: string;
    readonly allowedValues?: readonly string[];
    readonly deniedValues?: readonly string[];
  };
}

/** An effective boolean constraint is enforced. */
export function enforced(policy: unknown): boolean {
  if (typeof policy !== 'object' || policy === null) return false;
  const boolean = (policy as OrgPolicy).booleanPolicy;
  return typeof boolean === 'object' && boolean !== null && boolean.enforced === true;
}

/**
 * Whether an effective list constraint lets `value` through: all denied, an allow list without
 * it, or a deny list with it refuse it. (An allow list names instances: a new one is never on it.)
 */
export function listAllows(policy: unknown, value: string): boolean {
  const list = (typeof policy === 'object' && policy !== null ? (policy as OrgPolicy) : {}).listPolicy;
  if (typeof list !== 'object' || list === null) return true;
  if (list.allValues === 'DENY') return false;
  if (list.allValues === 'ALLOW') return true;
  if (list.allowedValues !== undefined && list.allowedValues.length > 0)
    return list.allowedValues.includes(value);
  return !(list.deniedValues ?? []).includes(value);
}

/** The effective policy of `constraint` on the project; undefined when it cannot be read. */
async function effectivePolicy(read: GcloudRead, constraint: string): Promise<unknown> {
  try {
    return await read(['resource-manager', 'org-policies', 'describe', constraint, '--effective']);
  } catch {
    // Reading policies needs resourcemanager.projects.getOrgPolicy (viewer has it); without it
    // the check is skipped, and the build or deploy meets the policy when it meets it.
    return undefined;
  }
}

/** A described image that lacks UEFI_COMPATIBLE (or does not exist): what to do about it. */
export function imageProblems(name: string, image: unknown, project: string): string[] {
  if (image === undefined)
    return [`image ${name} does not exist in project ${project}: build it with \`wsfleet images build\``];
  const features: unknown = (image as { guestOsFeatures?: unknown } | null)?.guestOsFeatures;
  if (
    Array.isArray(features) &&
    features.some((f) => (f as { type?: unknown } | null)?.type === UEFI_COMPATIBLE)
  )
    return [];
  return [
    `image ${name} lacks the guest OS feature ${UEFI_COMPATIBLE}, and the VMs boot with Secure Boot: build it again with \`wsfleet images build\` (its images have it)`,
  ];
}

/** `gcloud compute images describe` of each image, judged by imageProblems. */
export async function checkImages(
  read: GcloudRead,
  project: string,
  names: readonly string[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const name of names)
    problems.push(...imageProblems(name, await read(['compute', 'images', 'describe', name]), project));
  return problems;
}

export interface BuildSettings {
  readonly project: string;
  /** The build VM's network ('' = `default`). */
  readonly network: string;
  readonly useOsLogin: boolean;
}

interface Firewall {
  readonly direction?: string;
  readonly disabled?: boolean;
  readonly sourceRanges?: readonly string[];
  readonly targetTags?: readonly string[];
  readonly targetServiceAccounts?: readonly string[];
  readonly allowed?: readonly { IPProtocol?: string; ports?: readonly string[] }[];
}

/** A rule that lets packer reach any VM of the network on TCP 22 from anywhere. */
export function opensSsh(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const rule = value as Firewall;
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  if (rule.disabled === true || (rule.direction ?? 'INGRESS') !== 'INGRESS') return false;
  if (list(rule.targetTags).length > 0 || list(rule.targetServiceAccounts).length > 0) return false;
  if (!list(rule.sourceRanges).includes('0.0.0.0/0')) return false;
  return list(rule.allowed).some((entry) => {
    const a = (typeof entry === 'object' && entry !== null ? entry : {}) as {
      IPProtocol?: unknown;
      ports?: unknown;
    };
    if (a.IPProtocol === 'all') return true;
    if (a.IPProtocol !== 'tcp') return false;
    const ports = list(a.ports);
    if (ports.length === 0) return true;
    return ports.some((p) => {
      const [low = '', high = low] = String(p).split('-');
      return Number(low) <= 22 && 22 <= Number(high);
    });
  });
}

/**
 * Before `packer build` on GCE: credentials packer can use, the network and an SSH rule, and the
 * policies that would refuse the build VM or packer's way in.
 */
export async function buildPreflight(read: GcloudRead, settings: BuildSettings): Promise<string[]> {
  const problems: string[] = [];
  try {
    const token = await read(['auth', 'application-default', 'print-access-token']);
    if (token === undefined || token === '') throw new Error('no token');
  } catch {
    problems.push(
      'packer authenticates with Application Default Credentials and there are none: run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a key file)',
    );
  }
  const network = settings.network === '' ? 'default' : settings.network;
  const found = await read(['compute', 'networks', 'describe', network]);
  if (found === undefined) {
    problems.push(
      `the build network ${network} does not exist in ${settings.project} (an organization may skip creating \`default\`): create it with \`gcloud compute networks create ${network} --subnet-mode=auto\`, or name another with --var network=NAME (and subnetwork=NAME for a custom-mode network)`,
    );
  } else {
    const rules = await read(['compute', 'firewall-rules', 'list', `--filter=network:${network}`]);
    if (!(Array.isArray(rules) ? (rules as unknown[]) : []).some((rule) => opensSsh(rule)))
      problems.push(
        `no firewall rule of network ${network} lets packer reach the build VM over SSH: \`gcloud compute firewall-rules create ${network}-packer-ssh --network=${network} --allow=tcp:22 --source-ranges=0.0.0.0/0\` (delete it after the build)`,
      );
  }
  if (enforced(await effectivePolicy(read, CONSTRAINTS.requireOsLogin)) && !settings.useOsLogin)
    problems.push(
      `the organization policy ${CONSTRAINTS.requireOsLogin} is enforced on ${settings.project}, so packer's SSH key in metadata is ignored: add --var use_os_login=true`,
    );
  const ip = await effectivePolicy(read, CONSTRAINTS.vmExternalIpAccess);
  if (!listAllows(ip, `projects/${settings.project}/zones/-/instances/packer`))
    problems.push(
      `the organization policy ${CONSTRAINTS.vmExternalIpAccess} refuses external IP addresses on ${settings.project}, and packer reaches the build VM through one: ask for an exception for this project, or build in a project without it`,
    );
  return problems;
}
