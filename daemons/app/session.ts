/**
 * One client connection. Frames for it are queued during a tick and written in one go when the
 * hub flushes: one write (one writev) per socket per tick, however many messages the tick
 * brought. Frames go straight to the TCP socket; `ws` keeps the handshake, parsing, control
 * frames and close.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { createBucket, type TokenBucket } from '../shared/token-bucket.ts';
import { textFrame } from './frame.ts';
import type { TokenClaims } from './token.ts';

export class Session {
  readonly id: string;
  readonly ws: WebSocket;
  readonly socket: Duplex;
  /** The token's claims; replaced by a refresh. */
  claims: TokenClaims | undefined;
  /** Closes the connection when its token expires (re-armed by a refresh). */
  expiry: NodeJS.Timeout | undefined;
  readonly bucket: TokenBucket;
  /** Channels this connection subscribes to; created on first subscribe. */
  channels: Set<string> | undefined;
  /** Answered the last ping. */
  alive = true;
  /** Frames are being dropped by the rate limit (one error frame per such run). */
  limited = false;
  /** Frames waiting for the next flush. */
  private outbox: Buffer[] = [];
  private scheduled = false;
  private readonly schedule: (session: Session) => void;

  constructor(
    id: string,
    ws: WebSocket,
    socket: Duplex,
    claims: TokenClaims | undefined,
    burst: number,
    schedule: (session: Session) => void,
    now: number,
  ) {
    this.id = id;
    this.ws = ws;
    this.socket = socket;
    this.claims = claims;
    this.bucket = createBucket(burst, now);
    this.schedule = schedule;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Queues a ready-made frame (shared by every subscriber of a publication). */
  enqueue(frame: Buffer): void {
    this.outbox.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this);
    }
  }

  /** Queues a control reply of the protocol (welcome, subscribed, ack, error, …). */
  reply(frame: { op: string } & Record<string, unknown>): void {
    this.enqueue(textFrame(Buffer.from(JSON.stringify(frame))));
  }

  /**
   * Writes what the tick queued. Returns the socket's queued byte count afterwards, so the
   * caller can tell a slow reader (its kernel buffer full, our user-space queue growing).
   */
  flush(): number {
    this.scheduled = false;
    const frames = this.outbox;
    if (frames.length === 0) return this.socket.writableLength;
    this.outbox = [];
    // After a close frame, nothing may follow it; a closing socket just drops the queue.
    if (!this.open) return 0;
    if (frames.length === 1) {
      this.socket.write(frames[0] as Buffer);
    } else {
      this.socket.cork();
      for (const frame of frames) this.socket.write(frame);
      this.socket.uncork();
    }
    return this.socket.writableLength;
  }
}
