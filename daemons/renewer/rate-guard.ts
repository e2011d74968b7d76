/**
 * A cap on certificates per name set in any 7 days, whatever else goes wrong (Let's Encrypt allows
 * 5 duplicates a week; hitting that locks a domain out for days). It counts finalize calls
 * recorded in the store before they are made, so even a certificate that was issued but never
 * stored counts.
 *
 * The cap scales with the certificate's lifetime: 2 for the usual lifetimes (a renewal every few
 * weeks, plus one spare for a lost certificate), more for short-lived profiles, whose renewal
 * interval (half of ~160 hours) would otherwise fit twice into the window and leave no spare. It
 * never exceeds 4, one below Let's Encrypt's duplicate limit.
 */
import { renewalInterval } from './renewal-window.ts';

export const MIN_ISSUANCES = 2;
export const MAX_ISSUANCES = 4;
export const GUARD_WINDOW_MS = 7 * 24 * 3600 * 1000;

/** How many certificates of one name set the guard allows in any 7 days, for this lifetime. */
export function issuanceLimit(lifetimeMs: number | undefined): number {
  if (lifetimeMs === undefined || !Number.isFinite(lifetimeMs) || lifetimeMs <= 0) return MIN_ISSUANCES;
  const interval = renewalInterval(lifetimeMs);
  // Renewals the window holds at the certificate's own pace, plus one spare.
  const needed = Math.ceil(GUARD_WINDOW_MS / interval) + 1;
  return Math.min(MAX_ISSUANCES, Math.max(MIN_ISSUANCES, needed));
}

/** Undefined when an issuance is allowed now; otherwise when the next one will be. */
export function nextAllowedIssuance(
  finalizedAt: readonly string[],
  now: Date,
  limit: number = MIN_ISSUANCES,
): Date | undefined {
  const since = now.getTime() - GUARD_WINDOW_MS;
  const recent = finalizedAt
    .map((t) => Date.parse(t))
    .filter((t) => Number.isFinite(t) && t > since)
    .sort((a, b) => a - b);
  if (recent.length < limit) return undefined;
  const oldest = recent[recent.length - limit] as number;
  return new Date(oldest + GUARD_WINDOW_MS);
}

/** The record to keep: the finalize times still inside the window, plus `at`. */
export function recordIssuance(finalizedAt: readonly string[], at: Date): string[] {
  const since = at.getTime() - GUARD_WINDOW_MS;
  return [...finalizedAt.filter((t) => Date.parse(t) > since), at.toISOString()];
}
