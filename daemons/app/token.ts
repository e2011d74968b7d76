/**
 * Connection tokens: compact JWTs signed with HMAC-SHA256 (`--token-secret`), so any backend can
 * mint them with a stock JWT library. Browsers cannot set headers on a WebSocket, so the token
 * travels in the query (`/ws?token=…`) or as a subprotocol (`wsfleet-token.<token>`).
 *
 * Claims: `exp` (required, seconds since epoch), `nbf` (optional), `sub` (optional, logged as
 * the client's identity), `channels` (optional list of channels the client may use; an entry
 * ending in `*` is a prefix).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  readonly exp: number;
  readonly nbf?: number;
  readonly sub?: string;
  readonly channels?: readonly string[];
}

export type TokenResult = { ok: true; claims: TokenClaims } | { ok: false; reason: string };

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
/** Clock skew tolerated between the minting backend and this node. */
export const LEEWAY_SECONDS = 30;

/** Close code and reason for a connection whose token expired without a refresh. */
export const TOKEN_EXPIRED = { code: 4001, reason: 'token_expired' } as const;

/** Milliseconds from `nowMs` until a token with these claims stops being accepted. */
export function msUntilExpiry(claims: TokenClaims, nowMs: number): number {
  return (claims.exp + LEEWAY_SECONDS) * 1000 - nowMs;
}

function mac(secret: string, input: string): Buffer {
  return createHmac('sha256', secret).update(input).digest();
}

export function signToken(claims: TokenClaims, secret: string): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${HEADER}.${body}.${mac(secret, `${HEADER}.${body}`).toString('base64url')}`;
}

export function verifyToken(token: string, secret: string, nowSeconds: number): TokenResult {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed token' };
  const [header, body, signature] = parts as [string, string, string];
  let alg: unknown;
  try {
    alg = (JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: unknown }).alg;
  } catch {
    return { ok: false, reason: 'malformed token header' };
  }
  // Only HS256: never let the token choose a weaker algorithm ("none").
  if (alg !== 'HS256') return { ok: false, reason: 'token algorithm must be HS256' };
  const expected = mac(secret, `${header}.${body}`);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad token signature' };
  }
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'malformed token claims' };
  }
  if (typeof claims !== 'object' || claims === null) return { ok: false, reason: 'malformed token claims' };
  const { exp, nbf, sub, channels } = claims;
  if (typeof exp !== 'number') return { ok: false, reason: 'token has no exp' };
  if (exp + LEEWAY_SECONDS <= nowSeconds) return { ok: false, reason: 'token expired' };
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf - LEEWAY_SECONDS > nowSeconds)) {
    return { ok: false, reason: 'token not yet valid' };
  }
  if (sub !== undefined && typeof sub !== 'string')
    return { ok: false, reason: 'token sub must be a string' };
  if (channels !== undefined && !(Array.isArray(channels) && channels.every((c) => typeof c === 'string'))) {
    return { ok: false, reason: 'token channels must be a list of strings' };
  }
  return {
    ok: true,
    claims: {
      exp,
      ...(typeof nbf === 'number' ? { nbf } : {}),
      ...(sub === undefined ? {} : { sub }),
      ...(channels === undefined ? {} : { channels: channels as string[] }),
    },
  };
}

/**
 * Verifies with the current secret and, during a rotation, with the previous one: a token whose
 * signature the current secret refuses may have been signed before the rotation.
 */
export function verifyTokenRotating(
  token: string,
  secret: string,
  previous: string | undefined,
  nowSeconds: number,
): TokenResult {
  const result = verifyToken(token, secret, nowSeconds);
  if (result.ok || previous === undefined || result.reason !== 'bad token signature') return result;
  return verifyToken(token, previous, nowSeconds);
}

export function channelAllowed(claims: TokenClaims | undefined, channel: string): boolean {
  if (claims?.channels === undefined) return true;
  return claims.channels.some((c) => (c.endsWith('*') ? channel.startsWith(c.slice(0, -1)) : c === channel));
}

export const TOKEN_PROTOCOL_PREFIX = 'wsfleet-token.';
export const PROTOCOL = 'wsfleet';

/** The token from `?token=` or a `wsfleet-token.<token>` subprotocol, if any. */
export function tokenFromRequest(query: URLSearchParams, protocols: ReadonlySet<string>): string | undefined {
  const fromQuery = query.get('token');
  if (fromQuery) return fromQuery;
  for (const p of protocols)
    if (p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p.slice(TOKEN_PROTOCOL_PREFIX.length);
  return undefined;
}
