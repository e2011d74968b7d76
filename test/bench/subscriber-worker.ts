/**
 * A load-generator process holding many client connections, idle or subscribed to one channel.
 * It counts delivered messages per node and per connection (the slowest connection's count drives
 * the publisher's flow control) and, when asked, records publish→deliver latency per node.
 * Driven by the bench runner over IPC (messages.ts); exits when the runner goes away.
 */
import type WebSocket from 'ws';
import { closeAll, forEachLimited, openClient } from './client-connection.ts';
import { DIALECTS, nowUs, sentAtUs } from './dialects.ts';
import { Histogram } from './histogram.ts';
import type { FromSubscriber, NodeLabel, Target, ToSubscriber } from './messages.ts';

const OPEN_TIMEOUT_MS = 15_000;

const conns: WebSocket[] = [];
let perConnection = new Float64Array(0);
let deliveredA = 0;
let deliveredB = 0;
let latencyOn = false;
const latency: Record<NodeLabel, Histogram> = { A: new Histogram(), B: new Histogram() };
let closing = false;
let lost = 0;
let progressTimer: NodeJS.Timeout | undefined;

function reply(message: FromSubscriber): void {
  process.send?.(message);
}

function expand(targets: readonly Target[]): { url: string; node: NodeLabel }[] {
  return targets.flatMap((t) => Array.from({ length: t.count }, () => ({ url: t.url, node: t.node })));
}

async function open(command: Extract<ToSubscriber, { type: 'open' }>): Promise<void> {
  const dialect = DIALECTS[command.dialect];
  const plan = expand(command.targets);
  const base = perConnection.length;
  const grown = new Float64Array(base + plan.length);
  grown.set(perConnection);
  perConnection = grown;
  let opened = 0;
  let failed = 0;
  let firstError = '';
  await forEachLimited(plan.length, command.concurrency, async (i) => {
    const slot = base + i;
    const { url, node } = plan[i] ?? { url: '', node: 'A' };
    const isA = node === 'A';
    const histogram = latency[node];
    try {
      const ws = await openClient({
        dialect,
        url,
        localAddress: command.localAddress,
        channel: command.channel,
        timeoutMs: OPEN_TIMEOUT_MS,
        onFrame: (frame, socket) => {
          if (dialect.isMessage(frame)) {
            perConnection[slot] = (perConnection[slot] ?? 0) + 1;
            if (isA) deliveredA++;
            else deliveredB++;
            if (latencyOn) {
              const sent = sentAtUs(frame);
              if (sent >= 0) histogram.record(nowUs() - sent);
            }
          } else {
            dialect.keepAlive(frame, (text) => socket.send(text));
          }
        },
        onLost: () => {
          if (closing) return;
          lost++;
          // A dropped connection receives nothing more: keep it out of the slowest-connection count.
          perConnection[slot] = Number.POSITIVE_INFINITY;
        },
      });
      conns.push(ws);
      opened++;
    } catch (err) {
      perConnection[slot] = Number.POSITIVE_INFINITY;
      failed++;
      if (firstError === '') firstError = err instanceof Error ? err.message : String(err);
    }
  });
  reply({ type: 'opened', opened, failed, firstError });
}

function startProgress(intervalMs: number): void {
  clearInterval(progressTimer);
  let last = -1;
  progressTimer = setInterval(() => {
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < perConnection.length; i++) min = Math.min(min, perConnection[i] ?? 0);
    // Infinity (no live connection here) tells the runner this worker sets no bound.
    if (min !== last) {
      last = min;
      reply({ type: 'progress', min });
    }
  }, intervalMs);
}

process.on('message', (raw) => {
  const command = raw as ToSubscriber;
  switch (command.type) {
    case 'open':
      void open(command);
      break;
    case 'counts':
      reply({ type: 'counts', id: command.id, A: deliveredA, B: deliveredB, lost });
      break;
    case 'latency':
      if (command.on) {
        latency.A.reset();
        latency.B.reset();
        latencyOn = true;
      } else {
        latencyOn = false;
        reply({ type: 'latency', A: latency.A.toJSON(), B: latency.B.toJSON() });
      }
      break;
    case 'progress':
      startProgress(command.intervalMs);
      break;
    case 'close':
      closing = true;
      clearInterval(progressTimer);
      void closeAll(conns, 5_000).then(() => {
        // Ready for another `open`: counts start again from zero.
        conns.length = 0;
        perConnection = new Float64Array(0);
        deliveredA = 0;
        deliveredB = 0;
        closing = false;
        reply({ type: 'closed' });
      });
      break;
  }
});

process.on('disconnect', () => process.exit(0));
