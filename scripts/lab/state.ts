/**
 * What a lab is made of, on disk (<state-dir>/<lab>/state.json): the processes it started, its
 * machines, its trust anchors. Written after every step of `up`, whole or not at all, so that
 * `down` can undo a failed `up` and `status` and the tests can find everything.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppValues, RenewerValues } from '../../cloud-init/render.ts';
import { LabError } from './errors.ts';

export const STATE_FORMAT = 'wsfleet.lab/1';

export type LabTrust = 'as-deployed' | 'extra-roots';

export interface ServiceState {
  readonly pid: number;
  readonly argv: readonly string[];
  readonly log: string;
}

export interface MachineState {
  readonly name: string;
  readonly role: 'app' | 'renewer';
  readonly machineName: string;
  readonly netns: string;
  readonly address: string;
  readonly pid: number;
  readonly image: string;
  readonly instanceId: string;
  /** haproxy's server id (app VMs): stable, so client-IP hashing keeps its spread across reloads. */
  readonly serverId?: number;
}

export interface LabState {
  readonly format: typeof STATE_FORMAT;
  readonly lab: string;
  readonly subnet: string;
  readonly domain: string;
  readonly createdAt: string;
  readonly services: Record<string, ServiceState>;
  readonly machines: readonly MachineState[];
  /** Rootfs of the images in use, by role. */
  readonly images: Partial<Record<'app' | 'renewer', { image: string; rootfs: string }>>;
  /**
   * How the app VMs trust Pebble's root: `as-deployed` (the staging roots file of the image
   * replaced by it, cert-sync run with `--staging` as a deploy runs it) or `extra-roots`.
   * Unset (a lab from before the choice): extra-roots.
   */
  readonly trust?: LabTrust;
  /** Root of the certificates Pebble issues (PEM): what clients of the lab trust. */
  readonly rootPem?: string;
  /** CA of Pebble's own HTTPS API (PEM). */
  readonly pebbleCaPem?: string;
  readonly store?: string;
  readonly gcsEndpoint?: string;
  /** The values each role's user-data is rendered from (a new VM gets the same). */
  readonly values?: { readonly app: AppValues; readonly renewer: RenewerValues };
  /** The next app VM's index: names and addresses are never reused. */
  readonly nextApp: number;
  /** When `up` reached its goal, and how long it took. */
  readonly ready?: { readonly at: string; readonly seconds: number };
}

export function labDir(stateDir: string, lab: string): string {
  return join(stateDir, lab);
}

export async function writeState(stateDir: string, state: LabState): Promise<void> {
  const dir = labDir(stateDir, state.lab);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'state.json');
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/** The state of lab `lab`, or undefined when none was written. */
export async function readState(stateDir: string, lab: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(join(labDir(stateDir, lab), 'state.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LabError('WSFLEET_LAB_STATE', `cannot read the state of lab ${lab}: ${String(err)}`, {
      cause: err,
    });
  }
  let state: LabState;
  try {
    state = JSON.parse(text) as LabState;
  } catch (err) {
    throw new LabError('WSFLEET_LAB_STATE', `the state of lab ${lab} is not JSON: ${String(err)}`, {
      cause: err,
    });
  }
  if (state?.format !== STATE_FORMAT)
    throw new LabError('WSFLEET_LAB_STATE', `the state of lab ${lab} is not a ${STATE_FORMAT} file`);
  return state;
}

/** The state of a lab that must be up. */
export async function requireState(stateDir: string, lab: string): Promise<LabState> {
  const state = await readState(stateDir, lab);
  if (state === undefined)
    throw new LabError(
      'WSFLEET_LAB_STATE',
      `no lab ${lab} is up (no ${join(labDir(stateDir, lab), 'state.json')}): run \`wsfleet lab up\``,
    );
  return state;
}
