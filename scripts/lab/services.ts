/**
 * The lab's stand-ins for what Google Cloud and the Internet provide, each a process in the lab
 * namespace, detached so that it outlives `lab up`:
 *
 *   redis       Memorystore as the deploy makes it: no AOF (Memorystore has none); without persistence
 *               (the default) a restart loses every stream, with RDB an hourly snapshot survives it
 *   dns         pebble-challtestsrv: public DNS, resolving every name to the load balancer
 *   pebble      Let's Encrypt: Pebble, validating HTTP-01 through the load balancer
 *   gcs         Cloud Storage: the GCS JSON API stand-in (`wsfleet lab gcs-double`)
 *   google      the metadata server and Secret Manager (`wsfleet lab google-double`), for the app
 *               VMs' boot fetch of the fleet's secrets
 *   lb          the passthrough network load balancer: haproxy (haproxy.ts)
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { LabError } from './errors.ts';
import type { LabPlan } from './plan.ts';
import { commandLine, isProcess } from './processes.ts';
import type { ServiceState } from './state.ts';

/** Starts `argv` in the lab namespace, detached, its output appended to `log`. */
export function startService(
  plan: LabPlan,
  argv: readonly string[],
  log: string,
  env: Readonly<Record<string, string>> = {},
): ServiceState {
  const out = openSync(log, 'a');
  const [file, ...args] = ['nsenter', `--net=/run/netns/${plan.netns}`, '--', ...argv];
  const child = spawn(file as string, args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
  });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new LabError('WSFLEET_LAB_SERVICE', `could not start ${argv.join(' ')}`);
  // nsenter execs the command: this PID is the service's own.
  return { pid: child.pid, argv: [...argv], log };
}

/** Stops a service started by startService (only if that PID still runs its command). */
export async function stopService(service: ServiceState, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!(await isProcess(service.pid, service.argv[0] ?? ''))) return;
  try {
    process.kill(-service.pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + 15_000;
  while (await isProcess(service.pid, service.argv[0] ?? '')) {
    if (Date.now() > deadline) {
      process.kill(-service.pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves once `host:port` accepts a connection, or throws with the end of the service's log. */
export async function waitListening(
  name: string,
  service: ServiceState,
  host: string,
  port: number,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port, timeout: 1_000 });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    // Alive at all: just after the start, the PID may still be nsenter about to exec it.
    const running = (await commandLine(service.pid)) !== undefined;
    if (!running || Date.now() > deadline) {
      const log = await readFile(service.log, 'utf8').catch(() => '');
      throw new LabError(
        'WSFLEET_LAB_SERVICE',
        `${name} ${running ? `does not listen on ${host}:${port}` : 'exited'}:\n${log.slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface ServiceCommand {
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly port: number;
}

/**
 * pebble-challtestsrv's arguments for a DNS stand-in: A answers `defaultIPv4` for every name
 * without a record of its own ('' answers none), no AAAA default, and its HTTP-01, HTTPS and
 * TLS-ALPN responders off (the renewer's own challenge server answers). `dns` and `management`
 * are the `host:port` it serves DNS and its management API on.
 */
export function challtestsrvArgs(listen: {
  readonly defaultIPv4: string;
  readonly dns: string;
  readonly management: string;
}): string[] {
  return [
    '-defaultIPv4',
    listen.defaultIPv4,
    '-defaultIPv6',
    '',
    '-dns01',
    listen.dns,
    '-http01',
    '',
    '-https01',
    '',
    '-tlsalpn01',
    '',
    '-management',
    listen.management,
  ];
}

/** The command lines of the lab's services (the load balancer's is haproxy.ts's). */
export function serviceCommands(
  plan: LabPlan,
  dir: string,
  bundle: string,
  ports: {
    readonly redis: number;
    readonly dns: number;
    readonly dnsManagement: number;
    readonly gcs: number;
    readonly google: number;
  },
  redisPersistence: 'none' | 'rdb' = 'none',
  secrets: { readonly dir: string; readonly redisConfFile?: string; readonly redisAuthFile?: string } = {
    dir: join(dir, 'secrets'),
  },
): Record<'redis' | 'dns' | 'gcs' | 'google', ServiceCommand> {
  const at = plan.services;
  return {
    redis: {
      argv: [
        'redis-server',
        // AUTH, as the deploy's Memorystore: the string in a root-only config file.
        ...(secrets.redisConfFile === undefined ? [] : [secrets.redisConfFile]),
        '--bind',
        at,
        '--port',
        String(ports.redis),
        '--protected-mode',
        'no',
        // Never kinder than the deploy: Memorystore keeps no AOF, and the default keeps nothing.
        '--save',
        redisPersistence === 'rdb' ? '3600 1' : '',
        '--appendonly',
        'no',
        '--dir',
        join(dir, 'redis'),
      ],
      port: ports.redis,
    },
    dns: {
      argv: [
        'pebble-challtestsrv',
        ...challtestsrvArgs({
          defaultIPv4: plan.vip,
          dns: `${at}:${ports.dns}`,
          management: `${at}:${ports.dnsManagement}`,
        }),
      ],
      port: ports.dnsManagement,
    },
    gcs: {
      argv: [
        process.execPath,
        bundle,
        'lab',
        'gcs-double',
        '--host',
        at,
        '--port',
        String(ports.gcs),
        '--bucket',
        plan.bucket,
      ],
      port: ports.gcs,
    },
    google: {
      argv: [
        process.execPath,
        bundle,
        'lab',
        'google-double',
        '--host',
        at,
        '--port',
        String(ports.google),
        '--secrets-dir',
        secrets.dir,
        ...(secrets.redisAuthFile === undefined ? [] : ['--redis-auth-file', secrets.redisAuthFile]),
      ],
      port: ports.google,
    },
  };
}
