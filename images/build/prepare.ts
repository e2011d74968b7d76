/**
 * Everything an image is made from, gathered in one folder and hashed: the role's template (as
 * assembled for the packer at hand) and the staged inputs (provisioning, bundle, the pinned Node
 * runtime, units, polkit rules, nginx files). Every kind of build starts here; the hash names the
 * GCE image and keys the local build cache.
 */
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ImageError } from './errors.ts';
import { hashInputs, shortHash } from './inputs.ts';
import { fetchNodeRuntime, type NodePin, readPin, tarballName } from './node-runtime.ts';
import type { ImagePaths } from './paths.ts';
import { type Staged, stageInputs } from './staging.ts';
import { type AssembledTemplate, assembleTemplate, PLUGINS_FILE, type Role } from './templates.ts';

export interface PrepareRequest {
  readonly paths: ImagePaths;
  readonly role: Role;
  /** Whether the template gets plugins.pkr.hcl (packer ≥ 1.7). */
  readonly withPlugins: boolean;
  readonly bundle: string;
  /** Where the Node runtime tarball is cached. */
  readonly cacheDir: string;
  /** Template variables beyond the wrapper's (--var): they may change the image, so they count. */
  readonly vars: Readonly<Record<string, string>>;
  readonly log?: (text: string) => void;
}

export interface PreparedInputs {
  readonly template: AssembledTemplate;
  readonly staged: Staged;
  readonly pin: NodePin;
  /** SHA-256 (hex) of every input: the key of the local build cache. */
  readonly inputsHash: string;
  /** Its first 12 hex digits: what image names carry. */
  readonly contentHash: string;
}

/** Fetches the runtime if needed, then assembles and stages into `work` (template/, stage/). */
export async function prepareInputs(req: PrepareRequest, work: string): Promise<PreparedInputs> {
  const bundle = resolve(req.bundle);
  try {
    await access(bundle);
  } catch (err) {
    throw new ImageError('WSFLEET_IMAGE_INPUT', `no bundle at ${bundle}: run \`npm run build\` first`, {
      cause: err,
    });
  }
  const pin = await readPin(req.paths.provision);
  const nodeTarball = await fetchNodeRuntime(
    pin,
    resolve(req.cacheDir),
    req.log === undefined ? {} : { log: req.log },
  );
  const template = await assembleTemplate(
    req.paths.packer,
    req.role,
    req.withPlugins,
    join(work, 'template'),
  );
  const staged = await stageInputs(
    { paths: req.paths, bundle, nodeTarball, nodeTarballName: tarballName(pin) },
    join(work, 'stage'),
  );
  // The plugins block is left out: the same inputs get the same name whichever packer builds them.
  const hashed = template.entries.filter((e) => e.name !== `packer/${PLUGINS_FILE}`);
  const inputsHash = await hashInputs([...hashed, ...staged.entries], {
    role: req.role,
    ...Object.fromEntries(Object.entries(req.vars).map(([k, v]) => [`var.${k}`, v])),
  });
  return { template, staged, pin, inputsHash, contentHash: shortHash(inputsHash) };
}
