/**
 * A fake WebSocket, a fake clock and fake page signals for the client's unit tests: the test
 * plays the server, moves time and flips visibility; nothing touches the network or real timers.
 */
import type { Clock, ConnectOptions, PageSignals, WebSocketConstructor } from '../../client/index.ts';
import { connect } from '../../client/index.ts';

export class FakeClock implements Clock {
  #now = 1_700_000_000_000;
  #next = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** The delays of the timers now armed, soonest first. */
  pending(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  /** Moves time forward, firing every timer due on the way in order (and those they arm). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
      await flush();
    }
    this.#now = end;
    await flush();
  }
}

/** Lets promises and microtasks settle. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

export class FakeSocket {
  readyState = 0;
  readonly sent: Record<string, unknown>[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  onopen: unknown = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: unknown = null;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  /** The server side: opens and sends the welcome frame. */
  welcome(fields: Record<string, unknown> = {}): void {
    this.readyState = 1;
    this.frame({
      op: 'welcome',
      node: 'node-a',
      session: 's1',
      version: '0.1.0',
      pingInterval: 25,
      ...fields,
    });
  }

  frame(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  ops(op: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.op === op);
  }
}

export class FakePage implements PageSignals {
  readonly #visible = new Set<() => void>();
  readonly #online = new Set<() => void>();

  onVisible(fn: () => void): () => void {
    this.#visible.add(fn);
    return () => this.#visible.delete(fn);
  }

  onOnline(fn: () => void): () => void {
    this.#online.add(fn);
    return () => this.#online.delete(fn);
  }

  becomeVisible(): void {
    for (const fn of this.#visible) fn();
  }

  comeOnline(): void {
    for (const fn of this.#online) fn();
  }
}

/** A JWT-shaped token with this `exp` (seconds); the client never checks the signature. */
export function fakeJwt(exp: number, extra: Record<string, unknown> = {}): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ exp, ...extra })}.c2lnbmF0dXJl`;
}

export interface Harness {
  readonly clock: FakeClock;
  readonly page: FakePage;
  readonly client: ReturnType<typeof connect>;
  /** The sockets the client opened, in order. */
  readonly sockets: FakeSocket[];
  /** The last socket opened. */
  socket(): FakeSocket;
}

/** A client on fakes; `random` is fixed so delays are exact. */
export async function harness(options: Partial<ConnectOptions> = {}, random = 0.5): Promise<Harness> {
  const clock = new FakeClock();
  const page = new FakePage();
  const sockets: FakeSocket[] = [];
  class Socket extends FakeSocket {
    constructor(url: string, protocols: string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  const client = connect('wss://fleet.example/ws', {
    WebSocket: Socket as unknown as WebSocketConstructor,
    clock,
    page,
    random: () => random,
    ...options,
  });
  await flush();
  return {
    clock,
    page,
    client,
    sockets,
    socket() {
      const last = sockets.at(-1);
      if (last === undefined) throw new Error('the client opened no socket');
      return last;
    },
  };
}
