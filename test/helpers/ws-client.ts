/**
 * A protocol client for tests: a real `ws` client that records every server frame and lets a
 * test wait (bounded) for the next frame matching a predicate.
 */
import { type ClientOptions, WebSocket } from 'ws';

export type Frame = { op: string } & Record<string, unknown>;

export interface TestClient {
  readonly ws: WebSocket;
  readonly frames: Frame[];
  readonly closed: Promise<{ code: number; reason: string }>;
  send(frame: object): void;
  /** Waits for a frame (already received or coming) that matches and was not taken before. */
  next(match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  messages(channel: string): Frame[];
  close(): Promise<void>;
}

export function connect(
  url: string,
  options: ClientOptions & { protocols?: string[] } = {},
): Promise<TestClient> {
  const { protocols, ...rest } = options;
  const ws = new WebSocket(url, protocols ?? [], rest);
  const frames: Frame[] = [];
  const taken = new Set<number>();
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as Frame);
    for (const w of waiters) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of waiters) w();
    });
  });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      resolve({
        ws,
        frames,
        closed,
        send: (frame) => ws.send(JSON.stringify(frame)),
        messages: (channel) => frames.filter((f) => f.op === 'message' && f.channel === channel),
        next(match, timeoutMs = 5_000) {
          return new Promise((res, rej) => {
            const check = () => {
              const index = frames.findIndex((f, i) => !taken.has(i) && match(f));
              if (index === -1) return false;
              taken.add(index);
              res(frames[index] as Frame);
              return true;
            };
            if (check()) return;
            const timer = setTimeout(() => {
              waiters.delete(waiter);
              rej(
                new Error(
                  `no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames.slice(-5))}`,
                ),
              );
            }, timeoutMs);
            const waiter = () => {
              if (check()) {
                clearTimeout(timer);
                waiters.delete(waiter);
              }
            };
            waiters.add(waiter);
          });
        },
        async close() {
          if (ws.readyState === WebSocket.CLOSED) return;
          ws.close();
          const timer = setTimeout(() => ws.terminate(), 2_000);
          await closed;
          clearTimeout(timer);
        },
      });
    });
  });
}

export const op = (name: string) => (f: Frame) => f.op === name;
