/**
 * pebble-challtestsrv as a DNS stand-in: it answers A queries for any name with `defaultIPv4`
 * (127.0.0.1 unless told otherwise) and records added through its management API. Its HTTP-01,
 * HTTPS and TLS-ALPN responders are switched off: the renewer's own challenge server answers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { challtestsrvArgs } from '../../scripts/lab/services.ts';
import { freePort } from './net.ts';
import { waitFor } from './wait.ts';

export interface ChallTestSrv {
  /** `127.0.0.1:<port>` (UDP and TCP): what `pebble -dnsserver` and test resolvers use. */
  readonly dnsServer: string;
  /** `http://127.0.0.1:<port>`: the management API. */
  readonly managementUrl: string;
  addA(host: string, addresses: readonly string[]): Promise<void>;
  addAaaa(host: string, addresses: readonly string[]): Promise<void>;
  clearA(host: string): Promise<void>;
  /** Stops the process (SIGTERM, then SIGKILL after a bound). Idempotent. */
  stop(): Promise<void>;
}

export interface ChallTestSrvOptions {
  /** Answer for names without records; '' answers none (NOERROR, no data). Default 127.0.0.1. */
  readonly defaultIPv4?: string;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** Test processes still running, killed when the test process exits however it exits. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Spawns a tracked child and keeps the tail of its output for error messages. */
export function spawnTracked(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8_192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', () => running.delete(child));
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export async function startChallTestSrv(options: ChallTestSrvOptions = {}): Promise<ChallTestSrv> {
  const [dnsPort, managementPort] = [await freePort(), await freePort()];
  const dnsServer = `127.0.0.1:${dnsPort}`;
  const managementUrl = `http://127.0.0.1:${managementPort}`;
  const proc = spawnTracked(
    '/usr/bin/pebble-challtestsrv',
    challtestsrvArgs({
      defaultIPv4: options.defaultIPv4 ?? '127.0.0.1',
      dns: dnsServer,
      management: `127.0.0.1:${managementPort}`,
    }),
  );

  async function post(path: string, body: unknown): Promise<void> {
    const res = await fetch(`${managementUrl}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) throw new Error(`challtestsrv ${path} answered ${res.status}: ${await res.text()}`);
  }

  const exited = (): boolean => proc.child.exitCode !== null || proc.child.signalCode !== null;
  try {
    await waitFor(
      async () => {
        if (exited()) return true;
        // Any answer from the management API means it is up; a clear of an unknown name is a no-op.
        await post('/clear-a', { host: 'ready.invalid.' });
        return true;
      },
      START_TIMEOUT_MS,
      `pebble-challtestsrv management API on ${managementUrl}`,
      50,
    );
    if (exited())
      throw new Error(`pebble-challtestsrv exited (${proc.child.exitCode ?? proc.child.signalCode})`);
  } catch (err) {
    await proc.stop();
    throw new Error(`pebble-challtestsrv did not start:\n${proc.output()}`, { cause: err });
  }

  const fqdn = (host: string): string => (host.endsWith('.') ? host : `${host}.`);
  return {
    dnsServer,
    managementUrl,
    addA: (host, addresses) => post('/add-a', { host: fqdn(host), addresses }),
    addAaaa: (host, addresses) => post('/add-aaaa', { host: fqdn(host), addresses }),
    clearA: (host) => post('/clear-a', { host: fqdn(host) }),
    stop: () => proc.stop(),
  };
}
