/**
 * The renewer's control socket: how `wsfleet renewer renew` asks a running daemon (which holds
 * port 80 and the schedule) to renew now. HTTP over a Unix socket, mode 0600, so only its owner
 * (and root) can use it. `POST /renew` streams NDJSON: progress events, then one outcome per
 * certificate.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { z } from 'zod';
import { BodyError, closeServer, readBody, sendJson } from '../shared/http.ts';
import type { Logger } from '../shared/logger.ts';
import type { Outcome, ProgressEvent } from './renewer.ts';

export interface RenewCommand {
  readonly names: readonly string[];
  readonly force: boolean;
  /** Older clients do not send it: absent means false. */
  readonly ignoreRateGuard?: boolean;
  readonly dryRun: boolean;
  /** The directory the caller expects the daemon to use. */
  readonly directoryUrl?: string;
}

/** What a daemon takes: fields it does not know (a newer client's) are ignored. */
const renewCommandSchema = z.object({
  names: z.array(z.string().min(1).max(253)).min(1).max(100),
  force: z.boolean(),
  ignoreRateGuard: z.boolean().optional(),
  dryRun: z.boolean(),
  directoryUrl: z.string().min(1).max(2048).optional(),
});

/** A renew command from a request body, or a message saying what is wrong with it. */
export function parseRenewCommand(body: Buffer): RenewCommand | string {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return 'the body is not JSON';
  }
  const parsed = renewCommandSchema.safeParse(json);
  if (!parsed.success)
    return `the body is not a renew command: ${parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
      .join('; ')}`;
  const { ignoreRateGuard, directoryUrl, ...rest } = parsed.data;
  return {
    ...rest,
    ...(ignoreRateGuard === undefined ? {} : { ignoreRateGuard }),
    ...(directoryUrl === undefined ? {} : { directoryUrl }),
  };
}

/** The longest line a client reads from a daemon before it gives up on it. */
const MAX_LINE_BYTES = 1024 * 1024;

/** A line of a daemon's answer, or undefined when it is not one. */
export function parseControlLine(text: string): ControlLine | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const line = json as { type?: unknown; message?: unknown };
  if (line.type === 'error') return typeof line.message === 'string' ? (json as ControlLine) : undefined;
  if (line.type === 'progress' || line.type === 'outcome') return json as ControlLine;
  return undefined;
}

export type ControlLine =
  | ({ type: 'progress' } & ProgressEvent)
  | ({ type: 'outcome' } & Outcome)
  | { type: 'error'; message: string };

export interface ControlHandlers {
  renew(command: RenewCommand, progress: (event: ProgressEvent) => void): Promise<Outcome[]>;
}

export interface ControlServer {
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createControlServer(path: string, handlers: ControlHandlers, log: Logger): ControlServer {
  let server: Server | undefined;
  return {
    async start() {
      // A socket file left by a crashed daemon would make listen fail with EADDRINUSE.
      await rm(path, { force: true });
      const srv = createServer((req, res) => {
        if (req.method !== 'POST' || req.url !== '/renew') {
          sendJson(res, 404, { error: 'POST /renew only' });
          return;
        }
        readBody(req, 64 * 1024)
          .then(async (body) => {
            const command = parseRenewCommand(body);
            if (typeof command === 'string') {
              sendJson(res, 400, { error: command });
              return;
            }
            res.writeHead(200, { 'content-type': 'application/x-ndjson' });
            const write = (line: ControlLine) => res.write(`${JSON.stringify(line)}\n`);
            try {
              const outcomes = await handlers.renew(command, (event) =>
                write({ type: 'progress', ...event }),
              );
              for (const outcome of outcomes) write({ type: 'outcome', ...outcome });
            } catch (err) {
              write({ type: 'error', message: (err as Error).message });
            }
            res.end();
          })
          .catch((err: unknown) => {
            if (!res.headersSent)
              sendJson(res, err instanceof BodyError ? err.status : 400, { error: String(err) });
            else res.end();
          });
      });
      server = srv;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(path, () => resolve());
      });
      await chmod(path, 0o600);
      log.info({ path }, 'control socket listening');
    },
    async close() {
      const srv = server;
      server = undefined;
      await closeServer(srv);
    },
  };
}

/**
 * Sends a renew command to a running daemon. Resolves undefined when no daemon listens on
 * `path` (the caller then renews by itself); otherwise with the outcomes.
 */
export function sendRenew(
  path: string,
  command: RenewCommand,
  onLine: (line: ControlLine) => void,
): Promise<Outcome[] | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: '/renew', method: 'POST' }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`renewer daemon answered ${res.statusCode}`));
        res.resume();
        return;
      }
      const outcomes: Outcome[] = [];
      let partial = '';
      let failed = false;
      const fail = (why: string) => {
        failed = true;
        reject(new Error(`the renewer daemon's answer is not one of its control lines (${why})`));
        res.destroy();
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (failed) return;
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        if (partial.length > MAX_LINE_BYTES) return fail('a line too long');
        for (const text of lines) {
          if (text === '') continue;
          const line = parseControlLine(text);
          if (line === undefined) return fail('a line that does not parse');
          onLine(line);
          if (line.type === 'outcome') {
            const { type: _type, ...outcome } = line;
            outcomes.push(outcome as Outcome);
          }
          if (line.type === 'error') reject(new Error(line.message));
        }
      });
      res.on('end', () => {
        if (failed) return;
        if (partial.trim() !== '') fail('a line cut short');
        else resolve(outcomes);
      });
      res.on('error', (err) => {
        if (!failed) reject(err);
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(err);
    });
    req.end(JSON.stringify(command));
  });
}
