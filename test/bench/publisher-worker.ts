/**
 * The publishing load generator: a few client connections to node A that publish on one channel,
 * either in a closed loop (at most `window` publications ahead of the slowest subscriber, fed back
 * by the runner) or in an open loop at a fixed rate. Each payload carries its send time.
 */
import type WebSocket from 'ws';
import { closeAll, forEachLimited, openClient } from './client-connection.ts';
import { DIALECTS, type Dialect, payloadJson } from './dialects.ts';
import type { FromPublisher, PublisherCounts, ToPublisher } from './messages.ts';

const OPEN_TIMEOUT_MS = 15_000;
/** Without progress for this long the closed loop writes its window off as lost and goes on. */
const STALL_MS = 10_000;
/** Bounds one open-loop catch-up burst after a late timer. */
const MAX_BURST = 2_000;

let dialect: Dialect = DIALECTS.ws;
let channel = '';
let padding = '';
const conns: WebSocket[] = [];
let next = 0;

let published = 0;
let acked = 0;
let errors = 0;
let firstError = '';
let stalls = 0;
/** Publications written off by the stall guard. */
let lost = 0;
/** Every subscriber has received at least this many publications. */
let delivered = 0;
let lastProgressAt = 0;

let mode: 'idle' | 'saturate' | 'rate' = 'idle';
let window = 0;
let stallTimer: NodeJS.Timeout | undefined;
let rateTimer: NodeJS.Timeout | undefined;

function reply(message: FromPublisher): void {
  process.send?.(message);
}

function counts(): PublisherCounts {
  return { published, acked, errors, firstError, stalls };
}

function publishOne(): void {
  const ws = conns[next++ % conns.length];
  if (ws === undefined) return;
  published++;
  ws.send(dialect.publishFrame(channel, payloadJson(published, padding), published));
}

function inFlight(): number {
  return published - errors - lost - delivered;
}

function pump(): void {
  if (mode !== 'saturate') return;
  while (inFlight() < window) publishOne();
}

function onFrame(frame: Buffer, ws: WebSocket): void {
  const result = dialect.publishReply(frame);
  if (result === 'ack') {
    acked++;
  } else if (result === 'error') {
    errors++;
    if (firstError === '') firstError = frame.toString().slice(0, 200);
    pump();
  } else {
    dialect.keepAlive(frame, (text) => ws.send(text));
  }
}

async function open(command: Extract<ToPublisher, { type: 'open' }>): Promise<void> {
  dialect = DIALECTS[command.dialect];
  channel = command.channel;
  // The payload's fixed part is about 40 bytes; padding makes up the rest.
  padding = 'x'.repeat(Math.max(0, command.payloadBytes - 40));
  let opened = 0;
  let failed = 0;
  let error = '';
  await forEachLimited(command.connections, command.connections, async () => {
    try {
      const ws = await openClient({
        dialect,
        url: command.url,
        localAddress: null,
        channel: null,
        timeoutMs: OPEN_TIMEOUT_MS,
        onFrame,
        onLost: () => {
          if (mode !== 'idle' && error === '') error = 'a publisher connection was dropped';
        },
      });
      conns.push(ws);
      opened++;
    } catch (err) {
      failed++;
      if (error === '') error = err instanceof Error ? err.message : String(err);
    }
  });
  reply({ type: 'opened', opened, failed, firstError: error });
}

function saturate(size: number): void {
  mode = 'saturate';
  window = size;
  lastProgressAt = performance.now();
  clearInterval(stallTimer);
  stallTimer = setInterval(() => {
    if (mode !== 'saturate' || inFlight() < window) return;
    if (performance.now() - lastProgressAt < STALL_MS) return;
    stalls++;
    lost += inFlight();
    lastProgressAt = performance.now();
    pump();
  }, 250);
  pump();
}

function rate(perSecond: number): void {
  mode = 'rate';
  const start = performance.now();
  let sent = 0;
  const tick = (): void => {
    if (mode !== 'rate') return;
    const due = Math.floor(((performance.now() - start) / 1000) * perSecond) - sent;
    for (let k = 0; k < Math.min(due, MAX_BURST); k++) {
      publishOne();
      sent++;
    }
    rateTimer = setTimeout(tick, 1);
  };
  tick();
}

function stop(): void {
  mode = 'idle';
  clearInterval(stallTimer);
  clearTimeout(rateTimer);
}

process.on('message', (raw) => {
  const command = raw as ToPublisher;
  switch (command.type) {
    case 'open':
      void open(command);
      break;
    case 'saturate':
      saturate(command.window);
      break;
    case 'rate':
      rate(command.perSecond);
      break;
    case 'delivered':
      if (command.min > delivered && Number.isFinite(command.min)) {
        delivered = command.min;
        lastProgressAt = performance.now();
        pump();
      }
      break;
    case 'counts':
      reply({ type: 'counts', id: command.id, ...counts() });
      break;
    case 'stop':
      stop();
      reply({ type: 'stopped', ...counts() });
      break;
    case 'close':
      stop();
      void closeAll(conns, 5_000).then(() => reply({ type: 'closed' }));
      break;
  }
});

process.on('disconnect', () => process.exit(0));
