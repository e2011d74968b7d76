/**
 * The Origin check on upgrade, against cross-site WebSocket hijacking: browsers always send
 * Origin, other clients usually do not (and could forge it anyway, so they pass).
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: readonly string[] | undefined,
): boolean {
  if (origin === undefined) return true;
  if (allowed === undefined) {
    // Unset: same host only, whatever the scheme (TLS ends at nginx in front).
    try {
      return host !== undefined && new URL(origin).host === host;
    } catch {
      return false;
    }
  }
  return allowed.includes('*') || allowed.includes(origin);
}
