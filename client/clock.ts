/** Time as the client uses it, behind an interface so tests drive it with a fake clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** setTimeout fires at once for delays above 2^31−1 ms; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/** One timer that can be re-armed; `at` is absolute, so waits longer than setTimeout allows still work. */
export class Timer {
  #handle: unknown;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  after(ms: number, fn: () => void): void {
    this.at(this.#clock.now() + ms, fn);
  }

  at(when: number, fn: () => void): void {
    this.cancel();
    const wait = when - this.#clock.now();
    this.#handle =
      wait > MAX_TIMER_MS
        ? this.#clock.setTimeout(() => this.at(when, fn), MAX_TIMER_MS)
        : this.#clock.setTimeout(fn, Math.max(0, wait));
  }

  cancel(): void {
    this.#clock.clearTimeout(this.#handle);
  }
}
