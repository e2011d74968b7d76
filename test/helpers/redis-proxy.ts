/**
 * A TCP proxy in front of a real redis-server, on 127.0.0.1, that watches each client
 * connection's commands and replies: which commands are in flight (sent by the client, reply not
 * yet handed to it), the most that ever were, and under which name (CLIENT SETNAME or HELLO ...
 * SETNAME) the connection goes. It can hold back Redis' replies on connections of a given name,
 * cut them, and refuse new connections as a Redis that is down would.
 *
 * Replies are matched to commands in order, as Redis answers them; out-of-band pushes (RESP3
 * pub/sub messages and the confirmations of SUBSCRIBE and its kin) belong to no command. So it
 * expects RESP3 on connections that subscribe, as the app's broker speaks it.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { nameSetBy, PUBSUB_COMMANDS, readReply, readRequest } from './resp.ts';

export interface ProxiedConnection {
  readonly id: number;
  /** The name the client gave the connection, once it did. */
  readonly name: string | undefined;
  /** Commands (upper-case name, then arguments) whose replies the client has not yet received. */
  readonly inFlight: readonly (readonly string[])[];
  /** The most commands `counted` in flight at once on this connection. */
  readonly peak: number;
  /** Every command the client sent, in order. */
  readonly sent: readonly (readonly string[])[];
  readonly closed: boolean;
}

export interface RedisProxy {
  /** `redis://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  /** Every connection so far, oldest first, open or closed. */
  connections(): readonly ProxiedConnection[];
  /**
   * From the first reply to a `counted` command on, holds back what Redis sends on connections
   * named `name` (present and future) until `release(name)`; what came before still flows.
   */
  hold(name: string): void;
  /** Hands every held reply on, in order, and stops holding on connections named `name`. */
  release(name: string): void;
  /** Closes the connections named `name`, on both sides, as a dropped link would. */
  cut(name: string): void;
  /** While true, new connections are closed at once, as a Redis that is down. */
  refuse(refusing: boolean): void;
  /** Closes every connection and the listening socket. Idempotent. */
  close(): Promise<void>;
}

export interface RedisProxyOptions {
  readonly upstreamPort: number;
  /** Commands that count towards `peak`, and whose replies `hold` waits for. */
  readonly counted: (args: readonly string[]) => boolean;
}

interface Connection extends ProxiedConnection {
  name: string | undefined;
  inFlight: string[][];
  peak: number;
  sent: string[][];
  closed: boolean;
  /** Commands Redis has yet to answer in line, oldest first (pub/sub confirmations are pushes). */
  awaiting: boolean[];
  held: { bytes: Buffer; push: boolean }[];
  holding: boolean;
  client: Socket;
  upstream: Socket;
}

export async function startRedisProxy(options: RedisProxyOptions): Promise<RedisProxy> {
  const all: Connection[] = [];
  const holds = new Set<string>();
  let refusing = false;
  let closing: Promise<void> | undefined;

  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: options.upstreamPort });
    const conn: Connection = {
      id: all.length + 1,
      name: undefined,
      inFlight: [],
      peak: 0,
      sent: [],
      closed: false,
      awaiting: [],
      held: [],
      holding: false,
      client,
      upstream,
    };
    all.push(conn);
    const end = (): void => {
      conn.closed = true;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on(
      'data',
      framer(readRequest, (bytes, { args }) => onRequest(conn, bytes, args), end),
    );
    upstream.on(
      'data',
      framer(readReply, (bytes, { push }) => onReply(conn, bytes, push), end),
    );
  });

  function onRequest(conn: Connection, bytes: Buffer, args: string[]): void {
    const command = [(args[0] ?? '').toUpperCase(), ...args.slice(1)];
    conn.name = nameSetBy(command) ?? conn.name;
    conn.sent.push(command);
    if (!PUBSUB_COMMANDS.has(command[0] ?? '')) {
      const counted = options.counted(command);
      conn.awaiting.push(counted);
      conn.inFlight.push(command);
      if (counted) conn.peak = Math.max(conn.peak, countedInFlight(conn));
    }
    conn.upstream.write(bytes);
  }

  function onReply(conn: Connection, bytes: Buffer, push: boolean): void {
    const answersCounted = !push && conn.awaiting.shift() === true;
    if (answersCounted && conn.name !== undefined && holds.has(conn.name)) conn.holding = true;
    if (conn.holding) conn.held.push({ bytes, push });
    else deliver(conn, bytes, push);
  }

  /** Replies reach the client in the order Redis sent them, so each answers the oldest in flight. */
  function deliver(conn: Connection, bytes: Buffer, push: boolean): void {
    if (!push) conn.inFlight.shift();
    conn.client.write(bytes);
  }

  function countedInFlight(conn: Connection): number {
    return conn.inFlight.filter((command) => options.counted(command)).length;
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    url: `redis://127.0.0.1:${port}`,
    connections: () => all,
    hold(name) {
      holds.add(name);
    },
    release(name) {
      holds.delete(name);
      for (const conn of all) {
        if (conn.name !== name || !conn.holding) continue;
        conn.holding = false;
        for (const { bytes, push } of conn.held.splice(0)) deliver(conn, bytes, push);
      }
    },
    cut(name) {
      for (const conn of all) {
        if (conn.name !== name || conn.closed) continue;
        conn.client.destroy();
        conn.upstream.destroy();
      }
    },
    refuse(value) {
      refusing = value;
    },
    close() {
      closing ??= (async () => {
        for (const conn of all) {
          conn.client.destroy();
          conn.upstream.destroy();
        }
        server.close();
        await once(server, 'close');
      })();
      return closing;
    },
  };
}

/**
 * A 'data' handler that cuts the stream into whole values with `read` and hands each on with its
 * bytes; bytes that are no RESP end the connection.
 */
function framer<T extends { end: number }>(
  read: (buf: Buffer, at: number) => T | undefined,
  each: (bytes: Buffer, value: T) => void,
  fail: () => void,
): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    try {
      for (let value = read(pending, at); value !== undefined; value = read(pending, at)) {
        each(pending.subarray(at, value.end), value);
        at = value.end;
      }
    } catch {
      fail();
      return;
    }
    pending = pending.subarray(at);
  };
}
