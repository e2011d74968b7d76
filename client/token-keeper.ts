/**
 * The connection's token: with getToken, fetched before a connect when there is none, when it is
 * within `marginMs` of its `exp` or was refused, and replaced `marginMs` before `exp` while
 * connected — handed to the open connection when the server can take it, else kept for the next.
 */
import { type Clock, Timer } from './clock.ts';
import { clientError, type WsfleetError } from './errors.ts';
import { tokenExpiry } from './token.ts';

/** A failed fetch for a refresh is tried again this often until the token expires. */
const REFRESH_RETRY_MS = 5_000;

export class TokenKeeper {
  #token: string | undefined;
  #stale: boolean;
  #stopped = false;
  readonly #timer: Timer;
  readonly #clock: Clock;
  readonly #getToken: (() => string | Promise<string>) | undefined;
  readonly #marginMs: number;
  readonly #onError: (error: WsfleetError) => void;
  readonly #handOver: (token: string) => boolean;

  /** `handOver` gives a new token to the open connection; false when it cannot take one. */
  constructor(
    clock: Clock,
    token: string | undefined,
    getToken: (() => string | Promise<string>) | undefined,
    marginMs: number,
    onError: (error: WsfleetError) => void,
    handOver: (token: string) => boolean,
  ) {
    this.#clock = clock;
    this.#token = token;
    this.#getToken = getToken;
    this.#marginMs = marginMs;
    this.#onError = onError;
    this.#handOver = handOver;
    this.#stale = token === undefined;
    this.#timer = new Timer(clock);
  }

  get token(): string | undefined {
    return this.#token;
  }

  /** Whether a new token can be had (there is a getToken). */
  get renewable(): boolean {
    return this.#getToken !== undefined;
  }

  /** The token will not do for the next connect: it was refused, or may have been. */
  invalidate(): void {
    this.#stale = true;
  }

  /** Before a connect: fetches a token when needed; false when getToken failed. */
  async ready(): Promise<boolean> {
    const exp = this.#token === undefined ? undefined : tokenExpiry(this.#token);
    const expiring = exp !== undefined && exp - this.#clock.now() <= this.#marginMs;
    if (!this.renewable || !(this.#stale || expiring)) return true;
    const token = await this.#fetch();
    if (token === undefined) return false;
    this.#token = token;
    this.#stale = false;
    return true;
  }

  /** Arms the refresh `marginMs` before the token's `exp`. */
  schedule(): void {
    this.#timer.cancel();
    const exp = this.#token === undefined ? undefined : tokenExpiry(this.#token);
    if (!this.renewable || exp === undefined) return;
    this.#timer.at(exp - this.#marginMs, () => void this.#refresh(exp));
  }

  stop(): void {
    this.#stopped = true;
    this.#timer.cancel();
  }

  /** A token from getToken, or undefined (reported as token_failed) when it throws or returns none. */
  async #fetch(): Promise<string | undefined> {
    try {
      const token = await this.#getToken?.();
      if (typeof token === 'string' && token !== '') return token;
      throw new TypeError('no token');
    } catch (err) {
      if (!this.#stopped) this.#onError(clientError('token_failed', { cause: err }));
      return undefined;
    }
  }

  async #refresh(oldExp: number): Promise<void> {
    const token = await this.#fetch();
    if (this.#stopped) return;
    if (token === undefined) {
      if (this.#clock.now() + REFRESH_RETRY_MS < oldExp) {
        this.#timer.after(REFRESH_RETRY_MS, () => void this.#refresh(oldExp));
      }
      return;
    }
    this.#token = token;
    if (this.#handOver(token)) return; // the server's `refreshed` arms the next one
    // Kept for the next connect; a token that does not live longer would only loop.
    const exp = tokenExpiry(token);
    if (exp !== undefined && exp > oldExp) this.schedule();
  }
}
