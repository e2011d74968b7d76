/**
 * Opens one raw `ws` client through a dialect's handshake (and subscription, when asked) and then
 * hands every further frame to `onFrame`. The same options for every system: no compression
 * offered, no UTF-8 validation, so the clients spend as little as possible per frame.
 */
import WebSocket from 'ws';
import type { Dialect } from './dialects.ts';

export interface ClientOptions {
  readonly dialect: Dialect;
  readonly url: string;
  readonly localAddress: string | null;
  /** Subscribe to this channel before resolving; null leaves the connection idle. */
  readonly channel: string | null;
  readonly timeoutMs: number;
  readonly onFrame: (frame: Buffer, ws: WebSocket) => void;
  /** A connection that was ready closed (the server dropped it). */
  readonly onLost: (code: number) => void;
}

export function openClient(options: ClientOptions): Promise<WebSocket> {
  const { dialect, url, channel, onFrame } = options;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: options.timeoutMs,
      ...(options.localAddress === null ? {} : { localAddress: options.localAddress }),
    });
    let state: 'handshake' | 'subscribing' | 'ready' | 'failed' = 'handshake';
    const send = (text: string): void => ws.send(text);
    const fail = (err: Error): void => {
      if (state === 'ready' || state === 'failed') return;
      state = 'failed';
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new Error(`no ${state} reply within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const ready = (): void => {
      if (channel === null) {
        state = 'ready';
        clearTimeout(timer);
        resolve(ws);
        return;
      }
      state = 'subscribing';
      send(dialect.subscribeFrame(channel));
    };
    ws.on('open', () => {
      if (dialect.readyOnOpen) ready();
    });
    ws.on('message', (data) => {
      // binaryType is the default 'nodebuffer': every message arrives as one Buffer.
      const frame = data as Buffer;
      if (state === 'ready') {
        onFrame(frame, ws);
        return;
      }
      if (dialect.keepAlive(frame, send)) return;
      if (state === 'handshake') {
        const result = dialect.handshake(frame, send);
        if (result === 'ready') ready();
        else if (result === 'failed') fail(new Error(`handshake refused: ${frame.toString().slice(0, 200)}`));
        return;
      }
      if (state === 'subscribing') {
        const result = dialect.subscribeReply(frame);
        if (result === 'ok') {
          state = 'ready';
          clearTimeout(timer);
          resolve(ws);
        } else if (result === 'error') {
          fail(new Error(`subscribe refused: ${frame.toString().slice(0, 200)}`));
        }
      }
    });
    ws.on('error', (err) => fail(err));
    ws.on('close', (code) => {
      if (state === 'ready') options.onLost(code);
      else fail(new Error(`closed with code ${code} during ${state}`));
    });
  });
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` running at once. */
export async function forEachLimited(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Terminates every connection and waits (bounded) for their sockets to close. */
export async function closeAll(conns: readonly WebSocket[], timeoutMs: number): Promise<void> {
  const closing = conns.map(
    (ws) =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) {
          resolve();
          return;
        }
        ws.once('close', () => resolve());
        ws.terminate();
      }),
  );
  await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, timeoutMs))]);
}
