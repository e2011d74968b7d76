/**
 * A hard cap on certificates per name set: at most 2 in any 7 days, whatever else goes wrong
 * (Let's Encrypt allows 5 duplicates a week; hitting that locks a domain out for days). It counts
 * finalize calls recorded in the store before they are made, so even a certificate that was
 * issued but never stored counts.
 */

export const MAX_ISSUANCES = 2;
export const GUARD_WINDOW_MS = 7 * 24 * 3600 * 1000;

/** Undefined when an issuance is allowed now; otherwise when the next one will be. */
export function nextAllowedIssuance(finalizedAt: readonly string[], now: Date): Date | undefined {
  const since = now.getTime() - GUARD_WINDOW_MS;
  const recent = finalizedAt
    .map((t) => Date.parse(t))
    .filter((t) => Number.isFinite(t) && t > since)
    .sort((a, b) => a - b);
  if (recent.length < MAX_ISSUANCES) return undefined;
  const oldest = recent[recent.length - MAX_ISSUANCES] as number;
  return new Date(oldest + GUARD_WINDOW_MS);
}

/** The record to keep: the finalize times still inside the window, plus `at`. */
export function recordIssuance(finalizedAt: readonly string[], at: Date): string[] {
  const since = at.getTime() - GUARD_WINDOW_MS;
  return [...finalizedAt.filter((t) => Date.parse(t) > since), at.toISOString()];
}
