/**
 * Errors from talking to an ACME CA, reduced to what the renewer decides on: the RFC 8555 §6.7
 * problem type, the CA's detail, how long the CA asked us to wait (Retry-After), and whether
 * trying again later can succeed without someone changing something (`permanent`).
 *
 * acme-client reports a CA's problem document as a bare Error carrying only its `detail`, and
 * transport failures as axios errors; `classifyAcmeError` maps either, given the problem document
 * when the caller saw one (acme.ts records them as they pass).
 */

import type { ErrorCode } from '../shared/errors.ts';

/** The codes an AcmeError carries (described with the others in daemons/shared/errors.ts). */
export type AcmeErrorCode = Extract<
  ErrorCode,
  | 'WSFLEET_ACME_FAILED'
  | 'WSFLEET_ACME_RATE_LIMITED'
  | 'WSFLEET_ACME_UNREACHABLE'
  | 'WSFLEET_ACME_CHALLENGE_FAILED'
>;

const ACME_PREFIX = 'urn:ietf:params:acme:error:';

/** Problem types after which retrying unchanged cannot succeed (RFC 8555 §6.7, RFC 9773). */
const PERMANENT_TYPES = new Set([
  'unauthorized',
  'rejectedIdentifier',
  'malformed',
  'badCSR',
  'caa',
  'invalidContact',
  'unsupportedContact',
  'unsupportedIdentifier',
  'externalAccountRequired',
  'accountDoesNotExist',
  'userActionRequired',
  'badPublicKey',
  'badSignatureAlgorithm',
  'incorrectResponse',
  'alreadyReplaced',
  'invalidProfile',
]);

/** One RFC 7807 / RFC 8555 problem document, as the CA sent it. */
export interface AcmeProblem {
  readonly type?: string;
  readonly detail?: string;
  readonly status?: number;
  readonly identifier?: { readonly type?: string; readonly value?: string };
  readonly subproblems?: readonly AcmeProblem[];
}

/** A problem document together with the HTTP response that carried it. */
export interface AcmeProblemResponse {
  readonly status: number;
  readonly problem: AcmeProblem;
  /** The raw Retry-After header, if any. */
  readonly retryAfter?: string;
  readonly url?: string;
}

export interface AcmeErrorFields {
  readonly type?: string;
  readonly detail: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly permanent: boolean;
  readonly identifier?: string;
  readonly subproblems?: readonly AcmeProblem[];
  readonly cause?: unknown;
}

export class AcmeError extends Error {
  readonly code: AcmeErrorCode;
  /** Full problem type URN (`urn:ietf:params:acme:error:rateLimited`); undefined without one. */
  readonly type: string | undefined;
  readonly detail: string;
  /** HTTP status of the response that carried the problem. */
  readonly status: number | undefined;
  /** From Retry-After, when the CA sent one. */
  readonly retryAfterMs: number | undefined;
  /** True when retrying without a change (names, configuration, account) cannot succeed. */
  readonly permanent: boolean;
  /** The name a challenge or subproblem was about. */
  readonly identifier: string | undefined;
  readonly subproblems: readonly AcmeProblem[];

  constructor(code: AcmeErrorCode, fields: AcmeErrorFields) {
    const kind = fields.type?.startsWith(ACME_PREFIX) ? fields.type.slice(ACME_PREFIX.length) : fields.type;
    super(kind === undefined ? fields.detail : `${kind}: ${fields.detail}`, { cause: fields.cause });
    this.name = 'AcmeError';
    this.code = code;
    this.type = fields.type;
    this.detail = fields.detail;
    this.status = fields.status;
    this.retryAfterMs = fields.retryAfterMs;
    this.permanent = fields.permanent;
    this.identifier = fields.identifier;
    this.subproblems = fields.subproblems ?? [];
  }

  /** The short problem type (`rateLimited`), or undefined. */
  get shortType(): string | undefined {
    return shortType(this.type);
  }
}

function shortType(type: string | undefined): string | undefined {
  return type?.startsWith(ACME_PREFIX) ? type.slice(ACME_PREFIX.length) : undefined;
}

/** True when a problem of this type is permanent; a compound one when any subproblem is. */
export function isPermanentProblem(problem: AcmeProblem): boolean {
  const kind = shortType(problem.type);
  if (kind === 'compound') return (problem.subproblems ?? []).some(isPermanentProblem);
  return kind !== undefined && PERMANENT_TYPES.has(kind);
}

/** Retry-After (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) in ms; undefined if absent or bad. */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** True for a JSON body that looks like an ACME problem document. */
export function isProblem(body: unknown): body is AcmeProblem {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { type?: unknown }).type === 'string' &&
    (body as { type: string }).type.startsWith(ACME_PREFIX)
  );
}

/** An AcmeError for a problem the CA sent. */
export function problemError(response: AcmeProblemResponse, cause?: unknown): AcmeError {
  const { problem, status } = response;
  const kind = shortType(problem.type);
  const retryAfterMs = parseRetryAfter(response.retryAfter);
  const detail = problem.detail ?? `HTTP ${status}`;
  const fields = {
    type: problem.type,
    detail,
    status,
    retryAfterMs,
    identifier: problem.identifier?.value,
    subproblems: problem.subproblems,
    cause,
  };
  if (kind === 'rateLimited')
    return new AcmeError('WSFLEET_ACME_RATE_LIMITED', { ...fields, permanent: false });
  return new AcmeError('WSFLEET_ACME_FAILED', { ...fields, permanent: isPermanentProblem(problem) });
}

/** Transport error codes meaning the CA was not reached (or stopped answering). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_CANCELED',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface AxiosLike {
  readonly isAxiosError: true;
  readonly code?: string;
  readonly message: string;
  readonly response?: {
    readonly status: number;
    readonly headers: Record<string, unknown>;
    readonly data: unknown;
  };
  readonly config?: { readonly url?: string };
}

function isAxiosLike(err: unknown): err is AxiosLike {
  return typeof err === 'object' && err !== null && (err as { isAxiosError?: unknown }).isAxiosError === true;
}

function errnoCode(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps whatever acme-client, axios or Node throw to an AcmeError. `seen` is the last problem
 * document the CA sent during the operation: acme-client's bare Errors carry only its detail,
 * so one whose message is that detail is taken to be that problem.
 */
export function classifyAcmeError(err: unknown, seen?: AcmeProblemResponse): AcmeError {
  if (err instanceof AcmeError) return err;
  if (isAxiosLike(err)) {
    const response = err.response;
    if (response !== undefined) {
      const retryAfter = response.headers['retry-after'];
      const carried = {
        status: response.status,
        retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
        url: err.config?.url,
      };
      if (isProblem(response.data)) return problemError({ ...carried, problem: response.data }, err);
      return httpStatusError(carried.status, carried.retryAfter, err.config?.url, err);
    }
    return unreachable(err.code, err.message, err);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (seen !== undefined && (seen.problem.detail ?? '') === message) return problemError(seen, err);
  const code = errnoCode(err);
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return unreachable(code, message, err);
  if (err instanceof TypeError && message.includes("reading 'config'")) {
    // What acme-client 5.4 throws when a request got no response at all (its axios interceptor
    // reads `response.config` of an error that has no response: publishlab/node-acme-client#101).
    return unreachable(undefined, 'the CA did not answer (connection failed or timed out)', err);
  }
  // An error without a problem document or transport code (a CA answer acme-client could not
  // use, a bug): retrying later is the safe default; the renewer's schedule bounds it.
  return new AcmeError('WSFLEET_ACME_FAILED', { detail: message, permanent: false, cause: err });
}

/** A response without a problem document: 429 and 5xx are transient, other statuses are not. */
export function httpStatusError(
  status: number,
  retryAfter: string | undefined,
  url: string | undefined,
  cause?: unknown,
): AcmeError {
  const detail = `HTTP ${status} without a problem document${url === undefined ? '' : ` from ${url}`}`;
  const retryAfterMs = parseRetryAfter(retryAfter);
  if (status === 429)
    return new AcmeError('WSFLEET_ACME_RATE_LIMITED', {
      detail,
      status,
      retryAfterMs,
      permanent: false,
      cause,
    });
  return new AcmeError('WSFLEET_ACME_FAILED', {
    detail,
    status,
    retryAfterMs,
    permanent: status < 500,
    cause,
  });
}

function unreachable(code: string | undefined, message: string, cause: unknown): AcmeError {
  return new AcmeError('WSFLEET_ACME_UNREACHABLE', {
    detail: code === undefined || message.includes(code) ? message : `${code}: ${message}`,
    permanent: false,
    cause,
  });
}
