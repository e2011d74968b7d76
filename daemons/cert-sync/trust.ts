/**
 * The roots a certificate chain may end in: Node's bundled Mozilla roots (`tls.rootCertificates`,
 * the same set browsers trust) plus the PEM file `--extra-roots` names (Pebble's root in tests,
 * Let's Encrypt staging's in a staging deployment).
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
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

/** The system roots plus those in `extraRootsPath`; a file that cannot be read or parsed is a ConfigError (exit 78). */
export async function loadTrustAnchors(extraRootsPath: string | undefined): Promise<TrustAnchors> {
  if (extraRootsPath === undefined) return createTrustAnchors(rootCertificates);
  let text: string;
  try {
    text = await readFile(extraRootsPath, 'utf8');
  } catch (err) {
    throw new ConfigError([`Cannot read \`--extra-roots\` ${extraRootsPath}: ${(err as Error).message}`]);
  }
  const extra = splitPemChain(text);
  if (extra.length === 0)
    throw new ConfigError([`\`--extra-roots\` ${extraRootsPath} holds no PEM certificate`]);
  try {
    return createTrustAnchors([...rootCertificates, ...extra]);
  } catch (err) {
    throw new ConfigError([`\`--extra-roots\` ${extraRootsPath} does not parse: ${(err as Error).message}`]);
  }
}
