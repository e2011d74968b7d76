/**
 * Instance templates: each pins one image by name (never a family, so autohealing and scaling
 * never mix versions), carries its VM's rendered user-data and runs as its tier's service
 * account. Templates cannot change, so the name ends in a hash of everything in it: a new image
 * or new settings give a new template, and the same ones find the template already there.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FleetConfig } from './fleet-config.ts';
import type { Argv } from './gcloud.ts';
import type { Role } from './images.ts';
import type { FleetNames } from './names.ts';
import { ensure } from './plan-foundation.ts';
import type { Step } from './steps.ts';

/** Where the rendered user-data files go (gcloud reads them with --metadata-from-file). */
export interface UserDataFiles {
  readonly dir: string;
}

export interface TemplateSpec {
  readonly role: Role;
  readonly image: string;
  /** The rendered #cloud-config, or undefined in a dry run before the Redis address is known. */
  readonly userData: string | undefined;
}

export interface Template {
  readonly name: string;
  readonly step: Step;
}

/** A dry run's stand-in where a value is known only once an earlier step has run. */
export const PENDING = '<known once Redis exists>';

function templateArgs(
  config: FleetConfig,
  names: FleetNames,
  spec: TemplateSpec,
  userDataPath: string,
): string[] {
  const { role } = spec;
  const subnet = `projects/${config.project}/regions/${config.region}/subnetworks/${names.subnet}`;
  return [
    `--machine-type=${role === 'app' ? config.app.machineType : config.renewer.machineType}`,
    `--image=${spec.image}`,
    `--image-project=${config.project}`,
    `--service-account=${names.serviceAccountEmail[role]}`,
    // Access is what the account's roles allow (the bucket only); the scope does not narrow it further.
    '--scopes=cloud-platform',
    `--metadata-from-file=user-data=${userDataPath}`,
    '--metadata=enable-oslogin=true,block-project-ssh-keys=true',
    `--tags=${names.tag[role]}`,
    // App VMs have no external address (the load balancer reaches them); the renewer has an
    // ephemeral one to reach the ACME CA, and the firewall lets nothing in but the app VMs.
    `--network-interface=subnet=${subnet}${role === 'app' ? ',no-address' : ''}`,
    '--shielded-secure-boot',
    '--shielded-vtpm',
    '--shielded-integrity-monitoring',
    `--labels=wsfleet=${config.name},role=${role}`,
  ];
}

/** The template of `spec`, its user-data written to `files.dir`. */
export function templateOf(
  config: FleetConfig,
  names: FleetNames,
  spec: TemplateSpec,
  files: UserDataFiles,
): Template {
  const prefix = names.templatePrefix[spec.role];
  if (spec.userData === undefined) {
    const name = `${prefix}${PENDING}`;
    const args = templateArgs(config, names, spec, `<user-data ${PENDING}>`);
    return {
      name,
      step: ensure(
        `${spec.role} instance template (its user-data names Redis)`,
        ['compute', 'instance-templates', 'describe', name],
        ['compute', 'instance-templates', 'create', name, ...args],
      ),
    };
  }
  const hash = createHash('sha256')
    .update(JSON.stringify(templateArgs(config, names, spec, '')))
    .update('\0')
    .update(spec.userData)
    .digest('hex')
    .slice(0, 10);
  const name = `${prefix}${hash}`;
  mkdirSync(files.dir, { recursive: true });
  const path = join(files.dir, `${name}.user-data.yaml`);
  writeFileSync(path, spec.userData, { mode: 0o600 });
  const create: Argv = [
    'compute',
    'instance-templates',
    'create',
    name,
    ...templateArgs(config, names, spec, path),
  ];
  return {
    name,
    step: ensure(
      `${spec.role} instance template ${name} (image ${spec.image})`,
      ['compute', 'instance-templates', 'describe', name],
      create,
    ),
  };
}

export function templatePath(config: Pick<FleetConfig, 'project'>, name: string): string {
  return `projects/${config.project}/global/instanceTemplates/${name}`;
}
