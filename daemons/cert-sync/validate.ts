/**
 * Whether a certificate bundle may be installed: it parses, the key is the leaf's, the leaf is a
 * server certificate (not a CA; its extended key usage, when present, allows serverAuth — what
 * browsers require), the leaf names every configured domain, it is inside its validity period, and the chain, in the order nginx will
 * send it, leads to a trusted root. A chain ending in a Let's Encrypt staging root is refused unless
 * staging was asked for, even when that root is trusted through `--extra-roots`. Pure: the clock and
 * the roots come in as arguments.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  type CertificateInfo,
  certificateInfo,
  chainProblem,
  keyMatchesCertificate,
  splitPemChain,
} from '../shared/certificate-info.ts';
import type { TrustAnchors } from './trust.ts';

/** A certificate chain and its key, as nginx reads them. */
export interface Bundle {
  /** Leaf first, then the intermediates (fullchain.pem). */
  readonly certificatePem: string;
  /** privkey.pem. Never logged. */
  readonly privateKeyPem: string;
}

export const REFUSAL_REASONS = [
  'parse',
  'key_mismatch',
  'names',
  'not_yet_valid',
  'expired',
  'staging_root',
  'untrusted_chain',
  'usage',
] as const;

export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type Validation =
  | { readonly ok: true; readonly info: CertificateInfo }
  | {
      readonly ok: false;
      readonly reason: RefusalReason;
      readonly detail: string;
      /** The leaf's serial, when the leaf parsed. */
      readonly serial?: string;
      /** With `not_yet_valid`: when it becomes valid (its notBefore), to look again then. */
      readonly validFrom?: Date;
    };

export interface ValidateOptions {
  /** The configured names; the leaf must cover each one. */
  readonly domains: readonly string[];
  readonly now: Date;
  readonly anchors: TrustAnchors;
  /** Accept a chain that ends in a staging root. */
  readonly staging: boolean;
}

const STAGING = /^CN=\(STAGING\)/m;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/** Why the leaf is no TLS server certificate, if it is not. */
function usageProblem(leaf: X509Certificate): string | undefined {
  if (leaf.ca) return 'the leaf is a CA certificate';
  // Node lists the extended key usages; undefined when the extension is absent (any use).
  const usages = leaf.keyUsage as string[] | undefined;
  if (usages !== undefined && !usages.includes(SERVER_AUTH) && !usages.includes(ANY_EXTENDED_KEY_USAGE))
    return `the leaf's extended key usage (${usages.join(', ')}) does not allow TLS server authentication`;
  return undefined;
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

/** True when a SAN entry covers `domain`: equal, or a wildcard for exactly one more label. */
export function covers(san: string, domain: string): boolean {
  const s = san.toLowerCase();
  const d = domain.toLowerCase();
  if (s === d) return true;
  if (!s.startsWith('*.')) return false;
  const dot = d.indexOf('.');
  return dot > 0 && d.slice(dot + 1) === s.slice(2);
}

function within(cert: X509Certificate, now: Date): boolean {
  return Date.parse(cert.validFrom) <= now.getTime() && now.getTime() <= Date.parse(cert.validTo);
}

function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

/** Why the bundle does not parse, or its certificates when it does. */
function parse(bundle: Bundle): { problem: string } | { certs: X509Certificate[] } {
  const pems = splitPemChain(bundle.certificatePem);
  const begins = bundle.certificatePem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (pems.length === 0) return { problem: 'no PEM certificate in the chain' };
  // splitPemChain skips a block without its END line; a truncated file must not pass as a shorter chain.
  if (begins !== pems.length) return { problem: 'a certificate block of the chain is truncated' };
  const certs: X509Certificate[] = [];
  for (const [i, pem] of pems.entries()) {
    try {
      certs.push(new X509Certificate(pem));
    } catch {
      return { problem: `certificate ${i} of the chain does not parse` };
    }
  }
  try {
    createPrivateKey(bundle.privateKeyPem);
  } catch {
    return { problem: 'the private key does not parse' };
  }
  return { certs };
}

/** The trusted root that issued `top` (or that `top` is), if any. */
function anchorFor(top: X509Certificate, anchors: TrustAnchors): X509Certificate | undefined {
  return (
    anchors.roots.find((root) => root.fingerprint256 === top.fingerprint256) ??
    anchors.roots.find((root) => signedBy(top, root))
  );
}

export function validateBundle(bundle: Bundle, options: ValidateOptions): Validation {
  const parsed = parse(bundle);
  if ('problem' in parsed) return { ok: false, reason: 'parse', detail: parsed.problem };
  const { certs } = parsed;
  let info: CertificateInfo;
  try {
    info = certificateInfo(bundle.certificatePem);
  } catch (err) {
    return { ok: false, reason: 'parse', detail: `the leaf does not parse: ${(err as Error).message}` };
  }
  const refuse = (reason: RefusalReason, detail: string): Extract<Validation, { ok: false }> => ({
    ok: false,
    reason,
    detail,
    serial: info.serial,
  });
  if (!keyMatchesCertificate(bundle.certificatePem, bundle.privateKeyPem))
    return refuse('key_mismatch', 'the private key is not the key of the leaf certificate');
  const usage = usageProblem(certs[0] as X509Certificate);
  if (usage !== undefined) return refuse('usage', usage);
  const missing = options.domains.filter((d) => !info.dnsNames.some((san) => covers(san, d)));
  if (missing.length > 0)
    return refuse(
      'names',
      `the certificate does not cover ${missing.join(', ')} (it names ${info.dnsNames.join(', ') || 'nothing'})`,
    );
  if (options.now < info.notBefore)
    return {
      ...refuse('not_yet_valid', `valid only from ${info.notBefore.toISOString()}`),
      validFrom: info.notBefore,
    };
  if (options.now > info.notAfter) return refuse('expired', `expired at ${info.notAfter.toISOString()}`);

  const top = certs[certs.length - 1] as X509Certificate;
  const anchor = anchorFor(top, options.anchors);
  const path =
    anchor === undefined || anchor.fingerprint256 === top.fingerprint256 ? certs : [...certs, anchor];
  const stagingCert = path.find((c) => STAGING.test(c.subject) || STAGING.test(c.issuer));
  if (stagingCert !== undefined && !options.staging)
    return refuse(
      'staging_root',
      `the chain leads to a Let's Encrypt staging root (${oneLine(stagingCert.issuer)}); only --staging accepts it`,
    );

  const order = chainProblem(bundle.certificatePem);
  if (order !== undefined) return refuse('untrusted_chain', order);
  for (const [i, cert] of certs.entries()) {
    if (i > 0 && !cert.ca) return refuse('untrusted_chain', `certificate ${i} is not a CA certificate`);
    if (i > 0 && !within(cert, options.now))
      return refuse('untrusted_chain', `certificate ${i} (${oneLine(cert.subject)}) is outside its validity`);
  }
  if (anchor === undefined) return refuse('untrusted_chain', `no trusted root issued ${oneLine(top.issuer)}`);
  if (!within(anchor, options.now))
    return refuse('untrusted_chain', `the root ${oneLine(anchor.subject)} is outside its validity`);
  return { ok: true, info };
}
