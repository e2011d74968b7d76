/**
 * Which packer is installed decides how a template is assembled: 1.7 and later load the
 * googlecompute builder as a plugin named in `packer { required_plugins }`, which 1.6 refuses
 * (see images/packer/plugins.pkr.hcl).
 */
import { ImageError } from './errors.ts';
import { type PackerCommand, runPacker } from './packer-process.ts';

export interface PackerVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** The oldest packer this was built and tested with (Debian 12's). */
export const MINIMUM_PACKER: PackerVersion = { major: 1, minor: 6, patch: 6 };
/** From here on, builders outside packer's core need `required_plugins` and `packer init`. */
export const PLUGINS_FROM: PackerVersion = { major: 1, minor: 7, patch: 0 };

export function compareVersions(a: PackerVersion, b: PackerVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function formatVersion(v: PackerVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

/** True when this packer needs plugins.pkr.hcl and `packer init`. */
export function needsPlugins(v: PackerVersion): boolean {
  return compareVersions(v, PLUGINS_FROM) >= 0;
}

/**
 * Reads the version from `packer version` (`Packer v1.6.6`, with `-dev` or a second line about
 * updates in some builds) or from its machine-readable form (`…,,version,1.6.6`).
 */
export function parsePackerVersion(output: string): PackerVersion | undefined {
  const match = /^Packer v(\d+)\.(\d+)\.(\d+)/m.exec(output) ?? /,version,(\d+)\.(\d+)\.(\d+)/.exec(output);
  if (match === null) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/** Runs `packer version`: the version, or WSFLEET_PACKER_UNAVAILABLE saying what is wrong. */
export async function detectPacker(cmd: PackerCommand, timeoutMs = 15_000): Promise<PackerVersion> {
  const result = await runPacker(cmd, ['version'], { timeoutMs });
  const version = parsePackerVersion(result.stdout);
  if (result.exitCode !== 0 || version === undefined) {
    const why = result.timedOut
      ? `gave no answer within ${timeoutMs} ms`
      : `answered ${JSON.stringify(result.stdout || result.stderr)}`;
    throw new ImageError(
      'WSFLEET_PACKER_UNAVAILABLE',
      `\`${cmd.packer} version\` ${why}: is it HashiCorp packer?`,
    );
  }
  if (compareVersions(version, MINIMUM_PACKER) < 0) {
    throw new ImageError(
      'WSFLEET_PACKER_UNAVAILABLE',
      `packer ${formatVersion(version)} is too old: the templates need ${formatVersion(MINIMUM_PACKER)} or later`,
    );
  }
  return version;
}
