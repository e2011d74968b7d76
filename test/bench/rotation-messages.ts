/** The messages between the bench runner and the rotation run's client processes (Node IPC). */

export interface RotationTarget {
  /** `wss://127.0.0.1:<port>/ws` */
  readonly url: string;
  /** SNI name asked for, and checked against the certificate. */
  readonly servername: string;
  /** The test CA's root, the only one trusted. */
  readonly ca: string;
  readonly channel: string;
}

/** One client process's connections, summed; `RotationClients` adds the processes up. */
export interface RotationTally {
  /** Connections that were opened and subscribed. */
  readonly connections: number;
  readonly open: number;
  /** Closed by the other side (nginx or the app) since they opened. */
  readonly closed: number;
  /** Of those, closed at or after the report's `sinceUs`. */
  readonly closedSince: number;
  /** Close codes of the closed connections (1006: no close frame, the TCP connection ended). */
  readonly closeCodes: Readonly<Record<string, number>>;
  /** Offsets of [fromOffset, toOffset] a connection did not receive, summed over connections. */
  readonly missed: number;
  readonly connectionsMissing: number;
  readonly maxMissedPerConnection: number;
  /** Holes in the offsets a connection received since it subscribed (anywhere, not only the window). */
  readonly offsetGaps: number;
  /** Offsets received again or out of order. */
  readonly outOfOrder: number;
  /** Open connections that have not yet received `toOffset`. */
  readonly behind: number;
  /** Certificate serials (lowercase hex) the open connections were served. */
  readonly serials: Readonly<Record<string, number>>;
  /** The longest time between two deliveries on one connection, over all connections. */
  readonly longestPauseMs: number;
}

export type ToRotationClient =
  | {
      readonly type: 'open';
      readonly target: RotationTarget;
      readonly count: number;
      readonly concurrency: number;
    }
  | {
      readonly type: 'report';
      readonly id: number;
      readonly fromOffset: number;
      readonly toOffset: number;
      /** CLOCK_MONOTONIC µs (dialects.ts `nowUs`), the same clock in every process. */
      readonly sinceUs: number;
    }
  | { readonly type: 'close' };

export type FromRotationClient =
  | { readonly type: 'opened'; readonly opened: number; readonly failed: number; readonly firstError: string }
  | ({ readonly type: 'report'; readonly id: number } & RotationTally)
  | { readonly type: 'closed' };
