/**
 * The roots a certificate chain may end in: Node's bundled Mozilla roots (`tls.rootCertificates`,
 * the same set browsers trust), with `--staging` Let's Encrypt's staging roots (which no trust
 * store holds: wsfleet ships them, letsencrypt-staging-roots.pem beside the code), plus the PEM
 * file `--extra-roots` names (a private CA's root).
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { splitPemChain } from '../shared/certificate-info.ts';
import { ConfigError } from '../shared/errors.ts';

export interface TrustAnchors {
  readonly roots: readonly X509Certificate[];
}

/** Anchors from PEM text, each of which may hold several certificates. Throws on one that does not parse. */
export function createTrustAnchors(pems: readonly string[]): TrustAnchors {
  const roots = pems.flatMap((pem) => splitPemChain(pem)).map((pem) => new X509Certificate(pem));
  return { roots };
}

/**
 * Let's Encrypt's staging roots as wsfleet ships them: next to this module in a checkout, next to
 * the bundle (dist/, /opt/wsfleet/ on a VM) once built. The lab's "as deployed" trust mode puts
 * Pebble's root at this path on its VMs, so that its certificates go through the same code.
 */
export const STAGING_ROOTS_FILE = fileURLToPath(new URL('letsencrypt-staging-roots.pem', import.meta.url));

export interface TrustOptions {
  /** Trust Let's Encrypt's staging roots too (cert-sync's `--staging`). */
  readonly staging?: boolean;
  /** Where they are (default STAGING_ROOTS_FILE). */
  readonly stagingRootsPath?: string;
}

async function readRoots(path: string, what: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`Cannot read ${what} ${path}: ${(err as Error).message}`]);
  }
  const pems = splitPemChain(text);
  if (pems.length === 0) throw new ConfigError([`${what} ${path} holds no PEM certificate`]);
  try {
    createTrustAnchors(pems);
  } catch (err) {
    throw new ConfigError([`${what} ${path} does not parse: ${(err as Error).message}`]);
  }
  return pems;
}

/**
 * The system roots, the staging roots with `staging`, and those in `extraRootsPath`; a file that
 * cannot be read or parsed is a ConfigError (exit 78).
 */
export async function loadTrustAnchors(
  extraRootsPath: string | undefined,
  { staging = false, stagingRootsPath = STAGING_ROOTS_FILE }: TrustOptions = {},
): Promise<TrustAnchors> {
  const stagingRoots = staging
    ? await readRoots(stagingRootsPath, "Let's Encrypt's staging roots (shipped with wsfleet)")
    : [];
  if (extraRootsPath === undefined) return createTrustAnchors([...rootCertificates, ...stagingRoots]);
  return createTrustAnchors([
    ...rootCertificates,
    ...stagingRoots,
    ...(await readRoots(extraRootsPath, '`--extra-roots`')),
  ]);
}
