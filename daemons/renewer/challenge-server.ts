/**
 * The HTTP-01 responder (RFC 8555 §8.3): answers `GET /.well-known/acme-challenge/<token>` with
 * the key authorization the ACME client set for that token, as text/plain; everything else is a
 * 404. It also serves probes: random token/value pairs the self-check fetches through DNS and the
 * load balancer to prove that requests for the name reach this very process.
 *
 * A token it does not hold itself is looked up with `lookup` (the answers other renewers of the
 * same store left there, shared-challenges.ts), so any renewer the CA reaches can answer; those
 * reads are cached and limited (challenge-lookup.ts): 429 for a source over its rate, 503 when
 * the store is read too much overall.
 *
 * Under systemd socket activation it serves the inherited socket (fd 3), so port 80 needs no
 * privilege in the daemon itself. That socket stays open while the daemon is dead, so a TCP
 * check of port 80 proves nothing: autohealing checks `GET /livez` instead, which only a running
 * daemon answers (200 while `live()` says so, 503 while it stops).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendText } from '../shared/http.ts';
import type { Logger } from '../shared/logger.ts';
import { monotonicNow } from '../shared/token-bucket.ts';
import { createChallengeLookup, type LookupEvent, type LookupLimits } from './challenge-lookup.ts';

export const CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** The autohealing check's path: answered by this process, so a dead daemon fails it. */
export const LIVEZ_PATH = '/livez';

/** RFC 8555 §8.3: tokens are base64url; anything else cannot be ours. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** sd_listen_fds(3): passed sockets start at fd 3. */
const SD_LISTEN_FDS_START = 3;

export interface ChallengeServerOptions {
  /** Address to listen on (ignored with `fd`). */
  readonly host?: string;
  /** Port to listen on (ignored with `fd`); 0 picks a free one. */
  readonly port?: number;
  /** An inherited listening socket (systemd socket activation), see `inheritedFd`. */
  readonly fd?: number;
  /** Where answers this process does not hold are looked up (the store); unset: nowhere. */
  readonly lookup?: (token: string) => Promise<string | undefined>;
  /** Whether the daemon runs, for `GET /livez`; unset: /livez is a 404 like any other path. */
  readonly live?: () => boolean;
  /** Bounds on `lookup` (defaults: LOOKUP_LIMITS). */
  readonly limits?: Partial<LookupLimits>;
  /** A monotonic clock in milliseconds, for the lookup cache and rate limits. */
  readonly now?: () => number;
  /** Each lookup's outcome (cache or store, found or absent, refused), for metrics. */
  readonly onLookup?: (event: LookupEvent) => void;
  readonly log: Logger;
}

export interface Probe {
  readonly token: string;
  readonly value: string;
}

export interface ChallengeServer {
  /** Serves `keyAuthorization` at the token's path until `remove(token)`. */
  set(token: string, keyAuthorization: string): void;
  remove(token: string): void;
  /** A fresh random token and value, served until `remove(probe.token)`. */
  addProbe(): Probe;
  /** Starts listening; resolves once it does. Idempotent. */
  start(): Promise<void>;
  /** Stops accepting, closes open connections. Idempotent. */
  close(): Promise<void>;
  /** Where it listens (after start), e.g. to learn the port chosen for port 0. */
  address(): AddressInfo | undefined;
}

/**
 * The first socket systemd passed, per sd_listen_fds(3): LISTEN_PID must be this process and
 * LISTEN_FDS at least 1; otherwise undefined. The caller may delete LISTEN_PID/LISTEN_FDS from
 * its environment afterwards so that children do not think the sockets are theirs.
 */
export function inheritedFd(
  env: Readonly<Record<string, string | undefined>>,
  pid: number,
): number | undefined {
  const listenPid = env.LISTEN_PID;
  const listenFds = env.LISTEN_FDS;
  if (listenPid === undefined || listenFds === undefined) return undefined;
  if (!/^\d+$/.test(listenPid) || Number(listenPid) !== pid) return undefined;
  if (!/^\d+$/.test(listenFds) || Number(listenFds) < 1) return undefined;
  return SD_LISTEN_FDS_START;
}

export function createChallengeServer({
  host,
  port,
  fd,
  lookup,
  live,
  limits,
  now = monotonicNow,
  onLookup,
  log,
}: ChallengeServerOptions): ChallengeServer {
  const answers = new Map<string, string>();
  let server: Server | undefined;
  let starting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const limited =
    lookup === undefined
      ? undefined
      : createChallengeLookup(lookup, {
          now,
          ...(limits === undefined ? {} : { limits }),
          ...(onLookup === undefined ? {} : { onEvent: onLookup }),
          onError: (err) => log.warn({ err }, 'could not look up a challenge answer in the store'),
        });
  let refusedSince = 0;
  let lastRefusalWarning = Number.NEGATIVE_INFINITY;

  /** The answer for `token`: ours, else the shared one; a lookup that fails counts as none. */
  async function answerFor(
    token: string,
    source: string,
  ): Promise<{ answer?: string; shared?: boolean; refused?: 'source_rate' | 'busy' }> {
    const own = answers.get(token);
    if (own !== undefined) return { answer: own };
    if (limited === undefined) return {};
    const found = await limited(token, source);
    if (found.kind === 'found') return { answer: found.answer, shared: true };
    if (found.kind === 'absent') return {};
    // Said once a minute at most, with how many were refused since.
    refusedSince += 1;
    const at = now();
    if (at - lastRefusalWarning >= 60_000) {
      log.warn(
        { refused: refusedSince, reason: found.reason, source },
        'refusing challenge lookups: too many tokens this renewer does not hold',
      );
      lastRefusalWarning = at;
      refusedSince = 0;
    }
    return { refused: found.reason };
  }

  /** Who asked: the client nginx names (it sets X-Forwarded-For, never appends), else the peer. */
  function sourceOf(req: IncomingMessage): string {
    const forwarded = req.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    return (first === undefined || first === '' ? (req.socket.remoteAddress ?? '') : first).slice(0, 64);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (path === LIVEZ_PATH && live !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      const running = live();
      sendText(res, running ? 200 : 503, running ? 'ok\n' : 'stopping\n');
      return;
    }
    const token = path.startsWith(CHALLENGE_PATH) ? path.slice(CHALLENGE_PATH.length) : undefined;
    const { answer, shared, refused } =
      (req.method === 'GET' || req.method === 'HEAD') && token !== undefined && TOKEN.test(token)
        ? await answerFor(token, sourceOf(req))
        : {};
    const fields = {
      method: req.method,
      // The token is public (the CA fetches it in the clear), but a prefix is enough to follow it.
      path: token === undefined ? path.slice(0, 100) : `${CHALLENGE_PATH}${token.slice(0, 8)}…`,
      remoteAddress: req.socket.remoteAddress,
      userAgent: req.headers['user-agent'],
    };
    if (refused !== undefined) {
      const status = refused === 'source_rate' ? 429 : 503;
      log.debug({ ...fields, status, reason: refused }, 'challenge lookup refused');
      sendText(res, status, refused === 'source_rate' ? 'too many requests\n' : 'busy\n', {
        'retry-after': '1',
      });
      return;
    }
    if (answer === undefined) {
      log.debug({ ...fields, status: 404 }, 'challenge request for nothing we serve');
      sendText(res, 404, 'not found\n');
      return;
    }
    log.debug({ ...fields, status: 200, shared: shared === true }, 'challenge served');
    sendText(res, 200, answer);
  }

  return {
    set(token, keyAuthorization) {
      if (!TOKEN.test(token)) throw new Error('an ACME token is base64url');
      answers.set(token, keyAuthorization);
    },
    remove(token) {
      answers.delete(token);
    },
    addProbe() {
      const probe = {
        token: randomBytes(24).toString('base64url'),
        value: randomBytes(24).toString('base64url'),
      };
      answers.set(probe.token, probe.value);
      return probe;
    },
    start() {
      if (closing !== undefined) return Promise.reject(new Error('the challenge server was closed'));
      starting ??= (async () => {
        const s = createServer((req, res) => {
          handle(req, res).catch((err: unknown) => {
            log.error({ err }, 'challenge request failed');
            res.destroy();
          });
        });
        // Bounded: a validation request is tiny; nobody needs a slow connection kept open.
        s.requestTimeout = 10_000;
        s.headersTimeout = 5_000;
        s.keepAliveTimeout = 5_000;
        server = s;
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error): void => {
            s.off('listening', onListening);
            reject(err);
          };
          const onListening = (): void => {
            s.off('error', onError);
            resolve();
          };
          s.once('error', onError);
          s.once('listening', onListening);
          if (fd !== undefined) s.listen({ fd });
          else s.listen({ host, port });
        });
        s.on('error', (err) => log.error({ err }, 'challenge server error'));
        const address = s.address();
        log.info(
          {
            ...(typeof address === 'object' && address !== null ? address : {}),
            inherited: fd !== undefined,
          },
          'challenge server listening',
        );
      })().catch((err: unknown) => {
        // A failed start (port taken, bad fd) may be retried.
        starting = undefined;
        server = undefined;
        throw err;
      });
      return starting;
    },
    close() {
      closing ??= (async () => {
        const s = server;
        if (s === undefined) return;
        await starting?.catch(() => undefined);
        if (!s.listening) return;
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeAllConnections();
        await closed;
        log.info('challenge server closed');
      })();
      return closing;
    },
    address() {
      const address = server?.address();
      return typeof address === 'object' && address !== null ? address : undefined;
    },
  };
}
