/**
 * When a certificate is due. Without ARI: when a third of its own lifetime remains (half when
 * the lifetime is 10 days or less) — never a fixed "30 days before", because lifetimes shrink
 * (Let's Encrypt: 90 days today, 64 from 2027, 45 from 2028, 160 hours for short-lived ones).
 * A third leaves two more retry cycles of the failure schedule before expiry even for 45-day
 * certificates; short-lived ones get half, as Let's Encrypt advises for them.
 *
 * With ARI (RFC 9773), the CA's suggested window wins: renew at a random time inside it, chosen
 * once per window, so a fleet of renewers spreads its load as the CA asks.
 */

const DAY_MS = 24 * 3600 * 1000;
const SHORT_LIVED_MS = 10 * DAY_MS;

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface Window {
  readonly start: Date;
  readonly end: Date;
}

/** The share of a lifetime left when the certificate becomes due (see the header). */
function remainingAtRenewal(lifetimeMs: number): number {
  return lifetimeMs <= SHORT_LIVED_MS ? lifetimeMs / 2 : lifetimeMs / 3;
}

/** Time from issuance to renewal, for a certificate of this lifetime. */
export function renewalInterval(lifetimeMs: number): number {
  return lifetimeMs - remainingAtRenewal(lifetimeMs);
}

/** The moment a certificate becomes due by its own lifetime. */
export function lifetimeRenewalTime({ notBefore, notAfter }: Validity): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return new Date(notAfter.getTime() - remainingAtRenewal(lifetime));
}

/** A uniformly random time inside an ARI window (RFC 9773 §4.2). */
export function pickInWindow(window: Window, random: () => number = Math.random): Date {
  const start = window.start.getTime();
  const span = Math.max(0, window.end.getTime() - start);
  return new Date(start + Math.floor(random() * span));
}

export type RenewalReason =
  | 'no_certificate'
  | 'names_changed'
  | 'issuer_changed'
  | 'expired'
  | 'lifetime'
  | 'ari'
  | 'forced';

export interface Decision {
  /** True when the certificate should be renewed now. */
  readonly due: boolean;
  /** When it becomes due (now or earlier when due). */
  readonly at: Date;
  readonly reason: RenewalReason;
}

export interface DecideInput {
  readonly now: Date;
  /** The stored certificate: its validity and names; undefined when none is stored. */
  readonly current?: Validity & { readonly domains: readonly string[] };
  /** The names configured for this certificate. */
  readonly domains: readonly string[];
  /** The time picked inside the CA's ARI window, when the CA offers ARI. */
  readonly ariTime?: Date;
  /**
   * The stored certificate came from another ACME directory or account than the configured one
   * (staging → production, a new CA or account): it is due at once, whatever its lifetime.
   */
  readonly issuedElsewhere?: boolean;
  readonly force?: boolean;
}

/** The same names, in any order and case. */
export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].map((n) => n.toLowerCase()).sort();
  const y = [...b].map((n) => n.toLowerCase()).sort();
  return x.length === y.length && x.every((n, i) => n === y[i]);
}

export function decide({ now, current, domains, ariTime, issuedElsewhere, force }: DecideInput): Decision {
  if (force) return { due: true, at: now, reason: 'forced' };
  if (current === undefined) return { due: true, at: now, reason: 'no_certificate' };
  if (issuedElsewhere) return { due: true, at: now, reason: 'issuer_changed' };
  if (!sameNames(current.domains, domains)) return { due: true, at: now, reason: 'names_changed' };
  if (current.notAfter.getTime() <= now.getTime()) return { due: true, at: now, reason: 'expired' };
  // ARI may move renewal earlier (revocation, incident) or later; it never extends past expiry.
  const at = ariTime ?? lifetimeRenewalTime(current);
  const bounded = at.getTime() < current.notAfter.getTime() ? at : lifetimeRenewalTime(current);
  return {
    due: bounded.getTime() <= now.getTime(),
    at: bounded,
    reason: ariTime === undefined ? 'lifetime' : 'ari',
  };
}
