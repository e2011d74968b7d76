/**
 * Every setting of `wsfleet images build` and `wsfleet images validate`: a flag and a WSFLEET_*
 * variable each, checked together so one run reports every problem.
 */
import { z } from 'zod';
import { type Config, envName, flagName, option, parseConfig } from '../../daemons/shared/config.ts';
import { ConfigError } from '../../daemons/shared/errors.ts';
import { ROLES, type Role } from './templates.ts';

/** Template variables the wrapper sets itself, or takes from their own flag. */
export const MANAGED_VARS: Readonly<Record<string, string>> = {
  project_id: '--project',
  zone: '--zone',
  image_family: '--image-family',
  wsfleet_version: 'the wrapper (package.json)',
  content_hash: 'the wrapper (the inputs)',
  staging_dir: 'the wrapper (the staged inputs)',
};

function varProblem(entry: string): string | undefined {
  const match = /^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$/s.exec(entry);
  if (match === null) return `${JSON.stringify(entry)} is not KEY=VALUE`;
  const key = match[1] as string;
  const by = MANAGED_VARS[key];
  return by === undefined ? undefined : `${key} is set by ${by}`;
}

export const packerOption = option({
  schema: z.string().min(1).default('packer'),
  description: 'The packer executable: a name looked up on PATH, or a path',
  expected: 'a command name or path',
});

export const buildOptions = {
  target: option({
    schema: z.enum(['gce', 'dry-run', 'local']).default('gce'),
    description:
      'gce: a Google Compute Engine image; dry-run: check every input and print what gce would run, here, without a cloud; local: a root filesystem for systemd-nspawn machines (the lab), built here as root',
    expected: 'gce, dry-run or local',
  }),
  project: option({
    schema: z
      .string()
      .regex(/^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/)
      .optional(),
    description: 'Google Cloud project that builds and keeps the image (required for --target gce)',
    expected: 'a project id (6-30 lower-case letters, digits and hyphens)',
  }),
  zone: option({
    schema: z
      .string()
      .regex(/^[a-z]+-[a-z]+\d+-[a-z]$/)
      .default('us-central1-a'),
    description: 'Zone of the temporary build VM',
    expected: 'a zone such as us-central1-a',
  }),
  imageFamily: option({
    schema: z
      .string()
      .regex(/^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/)
      .optional(),
    description: 'Image family the image joins (default: wsfleet-<role>)',
    expected: 'a GCE name (lower-case letters, digits, hyphens; up to 63)',
  }),
  var: option({
    schema: z
      .array(z.string())
      .default([])
      .superRefine((entries, ctx) => {
        const problems = entries.map(varProblem).filter((p) => p !== undefined);
        if (problems.length > 0) ctx.addIssue({ code: 'custom', message: problems.join('; ') });
      }),
    description: 'A template variable, KEY=VALUE (images/packer/variables.pkr.hcl); repeatable',
    expected: 'KEY=VALUE pairs naming variables the wrapper does not set',
    kind: 'list',
  }),
  outputDir: option({
    schema: z.string().min(1).optional(),
    description: 'Where manifests and build logs go (default: dist/images in the checkout)',
    expected: 'a folder',
  }),
  cacheDir: option({
    schema: z.string().min(1).optional(),
    description: 'Where the Node runtime and local builds are cached (default: dist/images/cache)',
    expected: 'a folder',
  }),
  bundle: option({
    schema: z.string().min(1).optional(),
    description: 'The bundle the image carries (default: dist/wsfleet.js in the checkout)',
    expected: 'a file',
  }),
  buildTimeout: option({
    schema: z.coerce.number().int().min(10).max(86_400).default(3600),
    description: 'Seconds the build may take before packer is stopped (it then deletes its build VM)',
    expected: 'an integer from 10 to 86400',
  }),
  verbose: option({
    schema: z.boolean().default(false),
    description: 'Show every line of output, not only the steps',
    expected: 'true or false',
    kind: 'flag',
  }),
  packer: packerOption,
  gcloud: option({
    schema: z.string().min(1).default('gcloud'),
    description:
      'The gcloud executable: --target gce reads the project with it before the build (credentials, network, SSH rule, organization policies) and the image after it (UEFI_COMPATIBLE)',
    expected: 'a command name or path',
  }),
} as const;

export const validateOptions = { packer: packerOption } as const;

export type BuildConfig = Config<typeof buildOptions>;

export interface BuildArgs {
  readonly role: Role;
  readonly config: BuildConfig;
}

function isRole(value: string | undefined): value is Role {
  return (ROLES as readonly string[]).includes(value ?? '');
}

/** The two settings that depend on each other, read even when other settings are wrong. */
function crossProblems(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] {
  const loose = Object.fromEntries(
    Object.entries(buildOptions).map(([key, spec]) =>
      key === 'target' || key === 'project'
        ? [key, spec]
        : [key, { ...spec, schema: z.unknown().optional() }],
    ),
  );
  let config: Record<string, unknown>;
  try {
    config = parseConfig(loose, argv, env).config;
  } catch {
    return []; // `--target` or `--project` itself is wrong, or a flag is unknown: reported already.
  }
  if (config.target === 'gce' && config.project === undefined) {
    return [
      `Missing \`${flagName('project')}\` (${envName('project')}): --target gce builds in a Google Cloud project`,
    ];
  }
  return [];
}

/** `wsfleet images build <role> [flags]`: the role, then the flags; every problem at once. */
export function parseBuildArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): BuildArgs {
  const [first, ...rest] = argv;
  const hasRole = first !== undefined && !first.startsWith('-');
  const flags = hasRole ? rest : argv;
  const problems: string[] = [];
  if (!hasRole)
    problems.push(`Missing the role: expected ${ROLES.join(' or ')} (wsfleet images build <role>)`);
  else if (!isRole(first))
    problems.push(`Expected the role to be ${ROLES.join(' or ')}, got ${JSON.stringify(first)}`);
  let config: BuildConfig | undefined;
  try {
    config = parseConfig(buildOptions, flags, env).config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  problems.push(...crossProblems(flags, env));
  if (problems.length > 0 || config === undefined || !isRole(first)) throw new ConfigError(problems);
  return { role: first, config };
}

/** `--var a=1 --var b=2` as a record. */
export function varsRecord(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}
