/**
 * The lab load balancer's admin socket (haproxy's stats socket, `level admin`): one command per
 * connection, as haproxy's non-interactive mode answers and then closes. Every call is bounded.
 */
import { connect } from 'node:net';
import { LabError } from './errors.ts';

/** haproxy answers in milliseconds; this only stops a wedged socket from hanging the lab. */
const ADMIN_TIMEOUT_MS = 5_000;

export interface ServerState {
  /** The backend (`health`, `port-443`, …). */
  readonly backend: string;
  readonly server: string;
  /** `ADDRESS:PORT`. */
  readonly address: string;
  /**
   * As haproxy shows it: UP, DOWN, DRAIN, MAINT, `MAINT (via health/NAME)` for a server that
   * follows another one, `UP 1/2` / `DOWN 1/2` while checks are changing its state, `no check`.
   */
  readonly status: string;
}

export type AdminState = 'ready' | 'drain' | 'maint';

/** What haproxy allows in a proxy or server name; nothing else reaches its config or socket. */
export const HAPROXY_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Sends one command to the admin socket and returns haproxy's whole answer. */
export function adminCommand(adminSocket: string, command: string): Promise<string> {
  if (/[\r\n;]/.test(command))
    return Promise.reject(new TypeError(`one admin command at a time, got ${JSON.stringify(command)}`));
  return new Promise((resolve, reject) => {
    const socket = connect(adminSocket);
    const chunks: Buffer[] = [];
    socket.setTimeout(ADMIN_TIMEOUT_MS, () =>
      socket.destroy(new Error(`no answer to ${JSON.stringify(command)} within ${ADMIN_TIMEOUT_MS} ms`)),
    );
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', (err) =>
      reject(
        new LabError(
          'WSFLEET_LAB_SERVICE',
          `the load balancer's admin socket ${adminSocket} failed: ${err.message}`,
          { cause: err },
        ),
      ),
    );
  });
}

/** Every server of every backend, from `show stat` (the CSV haproxy's stats page shows). */
export async function serverStates(adminSocket: string): Promise<ServerState[]> {
  const lines = (await adminCommand(adminSocket, 'show stat')).split('\n');
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const column = (name: string): number => {
    const at = header.indexOf(name);
    if (at === -1)
      throw new LabError('WSFLEET_LAB_SERVICE', `haproxy's \`show stat\` has no ${name} column: ${lines[0]}`);
    return at;
  };
  const [pxname, svname, status, addr] = [
    column('pxname'),
    column('svname'),
    column('status'),
    column('addr'),
  ];
  return lines.slice(1).flatMap((line) => {
    const fields = line.split(',');
    const server = fields[svname];
    if (line === '' || server === undefined || server === 'FRONTEND' || server === 'BACKEND') return [];
    return [
      {
        backend: fields[pxname] ?? '',
        server,
        address: fields[addr] ?? '',
        status: fields[status] ?? '',
      },
    ];
  });
}

/**
 * Sets a server's admin state: `drain` takes no new connections and keeps the open ones, `maint`
 * takes none and is not checked, `ready` undoes either. Set on the `health` backend, it applies
 * to the VM on every port.
 */
export async function setServerState(
  adminSocket: string,
  backend: string,
  server: string,
  state: AdminState,
): Promise<void> {
  if (!HAPROXY_NAME.test(backend) || !HAPROXY_NAME.test(server))
    throw new TypeError(`not a haproxy backend/server name: ${JSON.stringify(`${backend}/${server}`)}`);
  const answer = (await adminCommand(adminSocket, `set server ${backend}/${server} state ${state}`)).trim();
  // Success is silence; anything else is haproxy saying why not ("No such server.").
  if (answer !== '')
    throw new LabError(
      'WSFLEET_LAB_SERVICE',
      `haproxy refused to set ${backend}/${server} ${state}: ${answer}`,
    );
}

/** `show servers state`: what haproxy reads back from its server-state-file on a reload. */
export function dumpServerState(adminSocket: string): Promise<string> {
  return adminCommand(adminSocket, 'show servers state');
}
