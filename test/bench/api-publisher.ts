/**
 * Steady traffic for the rotation run: one publication every `intervalMs` through the app's
 * POST /api/publish, sent straight to the app rather than through nginx, so that publishing goes
 * on whatever happens to nginx and every hole a client sees is on the client's path. Requests go
 * one at a time; a late one delays the next rather than bunching them up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { nowUs } from './dialects.ts';

const REQUEST_TIMEOUT_MS = 2_000;

export interface PublisherTotals {
  readonly published: number;
  readonly errors: number;
  readonly firstError: string;
  /** The highest offset the app acknowledged (0: none yet). */
  readonly lastOffset: number;
}

export class ApiPublisher {
  private published = 0;
  private errors = 0;
  private firstError = '';
  private lastOffset = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly appUrl: string,
    private readonly apiKey: string,
    private readonly channel: string,
    private readonly intervalMs: number,
  ) {}

  get totals(): PublisherTotals {
    return {
      published: this.published,
      errors: this.errors,
      firstError: this.firstError,
      lastOffset: this.lastOffset,
    };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops after the publication in flight; resolves with the totals. */
  async stop(): Promise<PublisherTotals> {
    this.stopping = true;
    await this.loop;
    return this.totals;
  }

  private async run(): Promise<void> {
    let due = performance.now();
    while (!this.stopping) {
      await this.publishOne();
      due = Math.max(due + this.intervalMs, performance.now());
      await sleep(due - performance.now());
    }
  }

  private async publishOne(): Promise<void> {
    try {
      const res = await fetch(`${this.appUrl}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: this.channel, data: { t: nowUs(), s: this.published + 1 } }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = (await res.json()) as { offset?: unknown };
      if (res.status !== 200 || typeof body.offset !== 'number') {
        throw new Error(`HTTP ${res.status}: ${JSON.stringify(body).slice(0, 200)}`);
      }
      this.published++;
      this.lastOffset = Math.max(this.lastOffset, body.offset);
    } catch (err) {
      this.errors++;
      if (this.firstError === '') this.firstError = err instanceof Error ? err.message : String(err);
    }
  }
}
