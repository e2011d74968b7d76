/**
 * A client process of the rotation run: TLS WebSocket connections through nginx, trusting only
 * the test CA and asking for one SNI name, each subscribed to one channel. Every connection
 * records the serial of the certificate it was served, the offsets it received (as contiguous
 * runs, so that a hole or a repeat shows), the longest pause between two deliveries, and when
 * and how it closed. Driven by the bench runner over IPC (rotation-messages.ts); exits when the
 * runner goes away.
 */
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import WebSocket, { type ClientOptions } from 'ws';
import { closeAll, forEachLimited } from './client-connection.ts';
import { digitsAt, nowUs } from './dialects.ts';
import type {
  FromRotationClient,
  RotationTally,
  RotationTarget,
  ToRotationClient,
} from './rotation-messages.ts';

const OPEN_TIMEOUT_MS = 15_000;

interface Connection {
  readonly ws: WebSocket;
  readonly serial: string;
  /** Received offsets as [first, last] pairs, starting with the position `subscribed` reported. */
  readonly runs: number[];
  outOfOrder: number;
  lastArrivalUs: number;
  longestPauseUs: number;
  closedAtUs: number;
  closeCode: number;
}

const connections: Connection[] = [];
let closing = false;

function reply(message: FromRotationClient): void {
  process.send?.(message);
}

const MESSAGE = Buffer.from('{"op":"message"');
const OFFSET = Buffer.from('"offset":');

/** The offset of a `message` frame (the app writes it last), or -1 for any other frame. */
function messageOffset(frame: Buffer): number {
  if (frame.length < MESSAGE.length || frame.compare(MESSAGE, 0, MESSAGE.length, 0, MESSAGE.length) !== 0) {
    return -1;
  }
  const i = frame.lastIndexOf(OFFSET);
  return i === -1 ? -1 : digitsAt(frame, i + OFFSET.length);
}

function received(conn: Connection, offset: number): void {
  const now = nowUs();
  if (conn.lastArrivalUs >= 0) conn.longestPauseUs = Math.max(conn.longestPauseUs, now - conn.lastArrivalUs);
  conn.lastArrivalUs = now;
  const last = conn.runs[conn.runs.length - 1] ?? 0;
  if (offset === last + 1) conn.runs[conn.runs.length - 1] = offset;
  else if (offset <= last) conn.outOfOrder++;
  else conn.runs.push(offset, offset);
}

/** ws has no SNI option of its own: connect with the name, and keep the serial served. */
function viaSni(servername: string, onSerial: (serial: string) => void): ClientOptions['createConnection'] {
  const create = (options: ConnectionOptions) => {
    const socket = tlsConnect({ ...options, servername });
    socket.once('secureConnect', () => onSerial(socket.getPeerCertificate().serialNumber.toLowerCase()));
    return socket;
  };
  return create as unknown as ClientOptions['createConnection'];
}

/** Opens one connection and resolves once its subscription is confirmed. */
function openOne(target: RotationTarget): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let serial = '';
    const ws = new WebSocket(target.url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: OPEN_TIMEOUT_MS,
      ca: target.ca,
      createConnection: viaSni(target.servername, (s) => {
        serial = s;
      }),
    });
    let conn: Connection | undefined;
    const timer = setTimeout(
      () => fail(new Error(`not subscribed within ${OPEN_TIMEOUT_MS} ms`)),
      OPEN_TIMEOUT_MS,
    );
    function fail(err: Error): void {
      if (conn !== undefined) return;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    }
    ws.on('message', (data) => {
      const frame = data as Buffer;
      if (conn !== undefined) {
        const offset = messageOffset(frame);
        if (offset >= 0) received(conn, offset);
        return;
      }
      const parsed = JSON.parse(frame.toString()) as { op?: string; offset?: number };
      if (parsed.op === 'welcome') {
        ws.send(JSON.stringify({ op: 'subscribe', channel: target.channel }));
      } else if (parsed.op === 'subscribed' && typeof parsed.offset === 'number') {
        clearTimeout(timer);
        conn = {
          ws,
          serial,
          runs: [parsed.offset, parsed.offset],
          outOfOrder: 0,
          lastArrivalUs: -1,
          longestPauseUs: 0,
          closedAtUs: -1,
          closeCode: 0,
        };
        resolve(conn);
      } else if (parsed.op === 'error') {
        fail(new Error(`refused: ${frame.toString().slice(0, 200)}`));
      }
    });
    ws.on('error', (err) => fail(err));
    ws.on('close', (code) => {
      if (conn === undefined) {
        fail(new Error(`closed with code ${code} before subscribing`));
      } else if (!closing) {
        conn.closedAtUs = nowUs();
        conn.closeCode = code;
      }
    });
  });
}

async function open(command: Extract<ToRotationClient, { type: 'open' }>): Promise<void> {
  let opened = 0;
  let failed = 0;
  let firstError = '';
  await forEachLimited(command.count, command.concurrency, async () => {
    try {
      connections.push(await openOne(command.target));
      opened++;
    } catch (err) {
      failed++;
      if (firstError === '') firstError = err instanceof Error ? err.message : String(err);
    }
  });
  reply({ type: 'opened', opened, failed, firstError });
}

/** How many offsets of [from, to] the runs hold. */
function covered(runs: readonly number[], from: number, to: number): number {
  let n = 0;
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const lo = Math.max(runs[i] ?? 0, from);
    const hi = Math.min(runs[i + 1] ?? 0, to);
    if (hi >= lo) n += hi - lo + 1;
  }
  return n;
}

function tally(fromOffset: number, toOffset: number, sinceUs: number): RotationTally {
  const expected = Math.max(0, toOffset - fromOffset + 1);
  const closeCodes: Record<string, number> = {};
  const serials: Record<string, number> = {};
  let [open, closed, closedSince, missed, connectionsMissing, maxMissed] = [0, 0, 0, 0, 0, 0];
  let [offsetGaps, outOfOrder, behind, longestPauseUs] = [0, 0, 0, 0];
  for (const conn of connections) {
    if (conn.closedAtUs < 0) {
      open++;
      serials[conn.serial] = (serials[conn.serial] ?? 0) + 1;
      if ((conn.runs[conn.runs.length - 1] ?? 0) < toOffset) behind++;
    } else {
      closed++;
      if (conn.closedAtUs >= sinceUs) closedSince++;
      closeCodes[conn.closeCode] = (closeCodes[conn.closeCode] ?? 0) + 1;
    }
    const miss = expected - covered(conn.runs, fromOffset, toOffset);
    missed += miss;
    if (miss > 0) connectionsMissing++;
    maxMissed = Math.max(maxMissed, miss);
    offsetGaps += conn.runs.length / 2 - 1;
    outOfOrder += conn.outOfOrder;
    longestPauseUs = Math.max(longestPauseUs, conn.longestPauseUs);
  }
  return {
    connections: connections.length,
    open,
    closed,
    closedSince,
    closeCodes,
    missed,
    connectionsMissing,
    maxMissedPerConnection: maxMissed,
    offsetGaps,
    outOfOrder,
    behind,
    serials,
    longestPauseMs: longestPauseUs / 1000,
  };
}

process.on('message', (raw) => {
  const command = raw as ToRotationClient;
  switch (command.type) {
    case 'open':
      void open(command);
      break;
    case 'report':
      reply({
        type: 'report',
        id: command.id,
        ...tally(command.fromOffset, command.toOffset, command.sinceUs),
      });
      break;
    case 'close':
      closing = true;
      void closeAll(
        connections.map((c) => c.ws),
        5_000,
      ).then(() => {
        connections.length = 0;
        closing = false;
        reply({ type: 'closed' });
      });
      break;
  }
});

process.on('disconnect', () => process.exit(0));
