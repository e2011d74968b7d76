/**
 * Starting app daemons for tests: in-process through createApp (with a log sink the test can
 * read), or as real processes from the bundle, the way systemd runs them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Broker } from '../../daemons/app/broker.ts';
import { type AppConfig, appOptions } from '../../daemons/app/config.ts';
import { type App, type AppDeps, createApp } from '../../daemons/app/server.ts';
import { parseConfig } from '../../daemons/shared/config.ts';
import { captureLogs, type LogLine } from './logs.ts';
import { waitFor } from './wait.ts';

export const BUNDLE = fileURLToPath(new URL('../../dist/wsfleet.js', import.meta.url));

export interface InProcessApp {
  readonly app: App;
  readonly config: AppConfig;
  readonly port: number;
  readonly url: string;
  readonly http: string;
  readonly logs: LogLine[];
  close(): Promise<void>;
}

export async function startApp(
  argv: string[] = [],
  broker?: Broker,
  deps: Omit<AppDeps, 'log' | 'broker'> = {},
): Promise<InProcessApp> {
  const { config } = parseConfig(appOptions, ['--port', '0', '--node-name', 'test-node', ...argv], {});
  const { log, logs } = captureLogs('wsfleet-app');
  const app = createApp(config, broker === undefined ? { ...deps, log } : { ...deps, log, broker });
  const address = await app.start();
  return {
    app,
    config,
    port: address.port,
    url: `ws://127.0.0.1:${address.port}/ws`,
    http: `http://127.0.0.1:${address.port}`,
    logs,
    close: () => app.close(),
  };
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Parsed JSON log lines so far. */
  logs(): LogLine[];
  stop(
    signal?: NodeJS.Signals,
    timeoutMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `node dist/wsfleet.js <args>` with only the given env (plus PATH). */
export function spawnCli(args: string[], env: Record<string, string> = {}): DaemonProcess {
  const child = spawn(process.execPath, [BUNDLE, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines);
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => {
    if (partial) stdout.push(partial);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  return {
    child,
    stdout,
    stderr,
    exited,
    logs: () =>
      stdout.flatMap((l) => {
        try {
          return [JSON.parse(l) as LogLine];
        } catch {
          return [];
        }
      }),
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** Spawns `wsfleet app run` and waits until its /healthz answers 200. */
export async function spawnApp(
  port: number,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<DaemonProcess & { url: string; http: string }> {
  const daemon = spawnCli(['app', 'run', '--host', '127.0.0.1', '--port', String(port), ...args], env);
  const http = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (daemon.child.exitCode !== null) throw new Error(`daemon exited: ${daemon.stderr.join('')}`);
        return (await fetch(`${http}/healthz`)).status === 200;
      },
      15_000,
      `app daemon on port ${port}`,
      50,
    );
  } catch (err) {
    await daemon.stop('SIGKILL');
    throw err;
  }
  return Object.assign(daemon, { url: `ws://127.0.0.1:${port}/ws`, http });
}
