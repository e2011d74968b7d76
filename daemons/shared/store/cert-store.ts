/**
 * The certificate store that the renewer writes and cert-sync reads, built once on any
 * ObjectStore. Layout under the store's prefix (README "Certificate store" documents it):
 *
 *   certs/<name>/versions/<issuedAt>-<serial>.json  one immutable object per version: chain,
 *                                                   private key and metadata together, so no
 *                                                   reader can pair a new key with an old chain
 *   certs/<name>/current                            pointer {version, serial, notAfter}; its
 *                                                   generation is what cert-sync polls
 *   accounts/<sha256(directory URL)>.json           ACME account key and URL per directory
 *   locks/<name>                                    issuance lease {owner, expiresAt}
 *   state/<name>.json                               renewer state: last attempt, last error,
 *                                                   failures, next attempt
 *   challenges/<token>                              HTTP-01 answer while its order runs, so that
 *                                                   whichever renewer the CA reaches can serve it
 *
 * Every object is validated when read; one that does not parse or does not match its key is
 * reported as WSFLEET_STORE_CORRUPT (naming the key) and never overwritten blindly.
 */
import type { RenewerState } from './cert-records.ts';

export type { RenewerState };

/** One issued certificate, as stored. */
export interface CertificateVersion {
  /** The certificate's name: its first domain. */
  readonly name: string;
  readonly domains: readonly string[];
  /** Leaf first, then the chain, PEM. */
  readonly certificatePem: string;
  /** PKCS#8 PEM. Never logged. */
  readonly privateKeyPem: string;
  /** Hex, as in the certificate. */
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuer: string;
  /** ISO time it was written. */
  readonly issuedAt: string;
  readonly directoryUrl: string;
  /** The ACME account that ordered it; absent in versions stored before it was recorded. */
  readonly accountUrl?: string;
  /** RFC 9773 certificate identifier (base64url AKI "." base64url serial), for ARI. */
  readonly ariCertId: string;
}

export interface CurrentCertificate {
  /** Object key of the version. */
  readonly version: string;
  /** Generation of the `current` pointer: what a writer must match to replace it. */
  readonly generation: string;
  readonly certificate: CertificateVersion;
}

export interface AcmeAccount {
  readonly directoryUrl: string;
  /** PEM. Never logged. */
  readonly accountKeyPem: string;
  readonly accountUrl: string;
  readonly email?: string;
  readonly createdAt: string;
}

/** A held issuance lease. */
export interface Lease {
  readonly owner: string;
  /** Extends the lease; throws WSFLEET_STORE_PRECONDITION if it was lost (taken over). */
  renew(): Promise<void>;
  /** Gives the lease up if still ours. Idempotent; never throws for a lost lease. */
  release(): Promise<void>;
}

export interface CertStore {
  readonly url: string;
  /** The current version of a certificate, or undefined when none was ever stored. */
  current(name: string): Promise<CurrentCertificate | undefined>;
  /** Only the generation of the `current` pointer: the cheap check cert-sync polls. */
  currentGeneration(name: string): Promise<string | undefined>;
  /**
   * Stores a new version, then swings `current` to it if `current` still has
   * `expectedGeneration` (undefined: there must be none). Returns the new pointer generation.
   */
  publish(
    certificate: CertificateVersion,
    expectedGeneration: string | undefined,
  ): Promise<CurrentCertificate>;
  /** Versions of a certificate issued since `since` (ISO), oldest first: the rate-limit guard. */
  versionsSince(
    name: string,
    since: string,
  ): Promise<readonly { version: string; issuedAt: string; serial: string }[]>;
  /**
   * Deletes the versions of `name` beyond the newest `keep` (by issue time), never the current
   * one: old private keys do not pile up in the bucket. Returns the deleted version keys.
   */
  pruneVersions(name: string, keep: number): Promise<readonly string[]>;
  /** Names with a `current` pointer. */
  names(): Promise<readonly string[]>;
  account(directoryUrl: string): Promise<AcmeAccount | undefined>;
  /** Stores the account only if none exists yet for that directory; returns the stored one. */
  saveAccount(account: AcmeAccount): Promise<AcmeAccount>;
  state(name: string): Promise<RenewerState | undefined>;
  saveState(name: string, state: RenewerState): Promise<void>;
  /**
   * Takes the issuance lease of `name` for `leaseMs`: created with ifGenerationMatch=0; an
   * expired lease of another owner is taken over only by matching its generation. Undefined
   * when another owner holds a live lease.
   */
  lock(name: string, owner: string, leaseMs: number): Promise<Lease | undefined>;
  /**
   * HTTP-01 answers shared by every renewer of this store: a validation request may reach
   * another renewer than the one that placed the order (two renewers during a group's update).
   * The answers are public (the CA fetches them in the clear); tokens are base64url.
   */
  putChallenge(token: string, answer: string): Promise<void>;
  challenge(token: string): Promise<string | undefined>;
  removeChallenge(token: string): Promise<void>;
}
