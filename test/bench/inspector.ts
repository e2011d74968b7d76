/**
 * Talks to a server process through the V8 inspector it was started with (`--inspect=host:port`),
 * so that every system, wsfleet included, can be garbage-collected, asked for its heap figures and
 * CPU-profiled without any bench code inside it.
 */
import WebSocket from 'ws';

interface CdpReply {
  readonly id?: number;
  readonly result?: unknown;
  readonly error?: { readonly message: string };
}

export interface InspectorSession {
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

export async function connectInspector(port: number, timeoutMs = 5_000): Promise<InspectorSession> {
  const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(timeoutMs) });
  const targets = (await res.json()) as { webSocketDebuggerUrl?: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (data) => {
    const reply = JSON.parse(String(data)) as CdpReply;
    if (reply.id === undefined) return;
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.error !== undefined) waiter?.reject(new Error(reply.error.message));
    else waiter?.resolve(reply.result);
  });
  ws.on('close', () => {
    for (const waiter of pending.values()) waiter.reject(new Error('inspector connection closed'));
    pending.clear();
  });
  return {
    call: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
        setTimeout(() => {
          if (pending.delete(id)) reject(new Error(`${method} timed out`));
        }, 30_000).unref();
      }),
    close: () => ws.close(),
  };
}

export interface HeapFigures {
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/**
 * Runs three full garbage collections (weak references and finalizers can free more on the next
 * one), waits `settleMs` for freed pages to go back to the kernel, and returns the heap figures.
 */
export async function collectGarbage(port: number, settleMs: number): Promise<HeapFigures> {
  const session = await connectInspector(port);
  try {
    for (let i = 0; i < 3; i++) await session.call('HeapProfiler.collectGarbage');
    await new Promise((r) => setTimeout(r, settleMs));
    const result = (await session.call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result?: { value?: string } };
    const usage = JSON.parse(result.result?.value ?? '{}') as Partial<HeapFigures>;
    return {
      heapUsed: usage.heapUsed ?? 0,
      external: usage.external ?? 0,
      arrayBuffers: usage.arrayBuffers ?? 0,
    };
  } finally {
    session.close();
  }
}

export interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
    readonly columnNumber: number;
  };
  readonly hitCount?: number;
}

export interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
}

/** Starts sampling; the returned function stops and returns the profile. */
export async function startProfile(port: number): Promise<() => Promise<CpuProfile>> {
  const session = await connectInspector(port);
  await session.call('Profiler.enable');
  await session.call('Profiler.setSamplingInterval', { interval: 500 });
  await session.call('Profiler.start');
  return async () => {
    try {
      const { profile } = (await session.call('Profiler.stop')) as { profile: CpuProfile };
      return profile;
    } finally {
      session.close();
    }
  };
}
