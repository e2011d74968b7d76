/**
 * What @google-cloud/storage throws, as StoreErrors: 412 → WSFLEET_STORE_PRECONDITION, 401/403
 * (and missing credentials) → WSFLEET_STORE_DENIED, anything else — 5xx, 429, timeouts, refused
 * connections — → WSFLEET_STORE_UNAVAILABLE. 404 means "missing" and each operation handles it
 * itself. The client's errors come from three HTTP stacks (its JSON requests, media streams and
 * resumable uploads) and carry the status in different fields, hence statusOf.
 */
import { StoreError } from './store-error.ts';

interface Shape {
  readonly code?: unknown;
  readonly status?: unknown;
  readonly message?: unknown;
  readonly response?: { readonly status?: unknown; readonly statusCode?: unknown };
}

/** The HTTP status an error of the client carries, if it carries one. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as Shape;
  for (const value of [e.code, e.status, e.response?.status, e.response?.statusCode]) {
    const n = typeof value === 'string' && /^[1-5][0-9]{2}$/.test(value) ? Number(value) : value;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 100 && n < 600) return n;
  }
  return undefined;
}

/** Maps any error of the client to a StoreError; StoreErrors pass through. */
export function toStoreError(err: unknown, op: string, url: string, key?: string): StoreError {
  if (err instanceof StoreError) return err;
  const status = statusOf(err);
  const e = (typeof err === 'object' && err !== null ? err : {}) as Shape;
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (status === 412)
    return new StoreError('WSFLEET_STORE_PRECONDITION', `${op} lost a race: the generation did not match`, {
      url,
      key,
      cause: err,
    });
  if (status === 401 || status === 403 || /Could not load the default credentials/.test(message))
    return new StoreError('WSFLEET_STORE_DENIED', `${op} was refused (${status ?? 'no credentials'})`, {
      url,
      key,
      cause: err,
    });
  const reason = status !== undefined ? `HTTP ${status}` : typeof e.code === 'string' ? e.code : message;
  return new StoreError('WSFLEET_STORE_UNAVAILABLE', `${op} failed (${reason.slice(0, 200)})`, {
    url,
    key,
    cause: err,
  });
}

/**
 * Runs `fn` but gives up after `ms`: the client's own timeouts do not cover every path (resumable
 * uploads have none, and a retry past its total timeout never calls back), so this is the bound
 * a caller can rely on.
 */
export async function withDeadline<T>(ms: number, fn: () => Promise<T>, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([fn(), expired]);
  } finally {
    clearTimeout(timer);
  }
}
