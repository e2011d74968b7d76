/**
 * The renewer's control socket: how `wsfleet renewer renew` asks a running daemon (which holds
 * port 80 and the schedule) to renew now. HTTP over a Unix socket, mode 0600, so only its owner
 * (and root) can use it. `POST /renew` streams NDJSON: progress events, then one outcome per
 * certificate.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
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
            const command = JSON.parse(body.toString()) as RenewCommand;
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
      res.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const text of lines) {
          if (text === '') continue;
          const line = JSON.parse(text) as ControlLine;
          onLine(line);
          if (line.type === 'outcome') {
            const { type: _type, ...outcome } = line;
            outcomes.push(outcome as Outcome);
          }
          if (line.type === 'error') reject(new Error(line.message));
        }
      });
      res.on('end', () => resolve(outcomes));
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(err);
    });
    req.end(JSON.stringify(command));
  });
}
