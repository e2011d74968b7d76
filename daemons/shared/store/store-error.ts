/**
 * The one error class of the certificate store. Besides the stable `code` it names the store and,
 * where there is one, the key, so a log line alone says which object to look at.
 */
import { type ErrorCode, WsfleetError } from '../errors.ts';

export type StoreErrorCode = Extract<ErrorCode, `WSFLEET_STORE_${string}`>;

export interface StoreErrorDetails {
  /** The store's URL (safe to log). */
  readonly url: string;
  readonly key?: string;
  /** What went wrong underneath: the I/O error, the HTTP error, the parse issues, or the state found. */
  readonly cause: unknown;
}

export class StoreError extends WsfleetError {
  readonly url: string;
  readonly key: string | undefined;

  constructor(code: StoreErrorCode, message: string, { url, key, cause }: StoreErrorDetails) {
    super(code, `${message} (${key === undefined ? '' : `key ${key} in `}${url})`, { cause });
    this.name = 'StoreError';
    this.url = url;
    this.key = key;
  }
}

/** True when `err` is a StoreError, and of `code` when one is given. */
export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
