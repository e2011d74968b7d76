/**
 * The token's expiry, read from the JWT payload without verifying it (the server verifies): the
 * client only needs to know when to fetch the next one.
 */

/** The `exp` claim in ms since the epoch, or undefined when the token has none or is not a JWT. */
export function tokenExpiry(token: string): number | undefined {
  try {
    const part = token.split('.')[1] ?? '';
    // atob yields Latin-1 text; a number in the JSON reads the same either way.
    const payload: unknown = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')));
    const exp = (payload as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && exp > 0 && exp < 1e11 ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** A JWT (base64url and dots) can be a WebSocket subprotocol; anything else goes in the query string. */
export function isSubprotocolSafe(token: string): boolean {
  return /^[\w.-]+$/.test(token);
}
