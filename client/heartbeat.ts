/**
 * Application pings: browsers cannot see WebSocket pings, so the client sends `{"op":"ping"}`
 * every interval the server names. Any frame counts as an answer. Hidden tabs throttle timers,
 * so only a ping left unanswered for a whole interval means the connection is gone, never
 * elapsed time alone; when the page turns visible again, one ping checks at once.
 */
import { type Clock, Timer } from './clock.ts';

export class Heartbeat {
  #waiting = false;
  readonly #beat: Timer;
  readonly #check: Timer;
  readonly #ping: () => boolean;
  readonly #dead: () => void;

  /** `ping` sends a ping (false when it could not); `dead` drops the connection. */
  constructor(clock: Clock, ping: () => boolean, dead: () => void) {
    this.#beat = new Timer(clock);
    this.#check = new Timer(clock);
    this.#ping = ping;
    this.#dead = dead;
  }

  start(intervalMs: number): void {
    this.#waiting = false;
    const beat = () => {
      if (this.#waiting) return this.#dead();
      this.#waiting = this.#ping();
      this.#beat.after(intervalMs, beat);
    };
    this.#beat.after(intervalMs, beat);
  }

  /** A frame arrived. */
  answered(): void {
    this.#waiting = false;
  }

  /** Pings now; no frame within `timeoutMs` means the connection is gone. */
  checkNow(timeoutMs: number): void {
    this.#waiting = this.#ping();
    this.#check.after(timeoutMs, () => {
      if (this.#waiting) this.#dead();
    });
  }

  stop(): void {
    this.#beat.cancel();
    this.#check.cancel();
  }
}
