/**
 * The lab's load balancer: haproxy standing in for GCP's regional external passthrough network
 * load balancer. TCP passes through untouched (TLS ends on the VMs, as in GCP), each client
 * address sticks to one VM, and one HTTP health check per VM decides whether it gets new
 * connections on every port. haproxy runs as `haproxy -W -db -f CONFIG` (haproxyArgs): master
 * and worker in the foreground, so a reload is SIGUSR2 to the master, and the old worker keeps
 * serving the connections it has until they close.
 *
 * The socket commands (serverStates, setServerState) are in haproxy-admin.ts, re-exported here.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { execa } from 'execa';
import { LabError } from './errors.ts';
import { dumpServerState, HAPROXY_NAME } from './haproxy-admin.ts';

export {
  type AdminState,
  adminCommand,
  type ServerState,
  serverStates,
  setServerState,
} from './haproxy-admin.ts';

export interface LbBackend {
  readonly name: string;
  /** Stable haproxy server id: keeps consistent hashing stable across reloads. */
  readonly id: number;
  /** The VM's IPv4 address. */
  readonly address: string;
}

/**
 * A frontend port and the backend port it forwards to; a number alone forwards to the same port
 * (the lab's 80 and 443).
 */
export type LbPort = number | { readonly listen: number; readonly backend: number };

export interface LbSettings {
  /** The load balancer's IPv4 address; a frontend binds it for each port. */
  readonly vip: string;
  /** TCP passthrough, each to its port on every backend. */
  readonly ports: readonly LbPort[];
  /** HTTP health check port on each backend (80). */
  readonly healthPort: number;
  /** Health check path ('/readyz'); 200 means healthy. */
  readonly healthPath: string;
  /** Between two checks of a backend (e.g. 1000). */
  readonly healthIntervalMs: number;
  readonly backends: readonly LbBackend[];
  /** haproxy's stats socket: unix, mode 600, level admin; nothing is served on the network. */
  readonly adminSocket: string;
  /** Holds the master's pid (the one to send SIGUSR2). */
  readonly pidFile: string;
  /**
   * Where reloadHaproxy keeps health and admin states (drain, maint) for the new worker; without
   * it a reload starts every server UP and ready again.
   */
  readonly stateFile?: string;
}

/** The backend that holds the health checks; the port backends track its servers. */
export const HEALTH_BACKEND = 'health';

function pair(port: LbPort): { listen: number; backend: number } {
  return typeof port === 'number' ? { listen: port, backend: port } : port;
}

/** The name of the backend (a haproxy `listen` section) of a frontend port. */
export function portBackend(port: LbPort): string {
  return `port-${pair(port).listen}`;
}

const PORT = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
// Paths end up in the config text: no white space, quotes or comment signs.
const PATH = /^\/[A-Za-z0-9._/-]+$/;

function problems(s: LbSettings): string[] {
  const found: string[] = [];
  if (!isIPv4(s.vip)) found.push(`vip ${JSON.stringify(s.vip)} is not an IPv4 address`);
  if (s.ports.length === 0) found.push('no ports');
  const ports = s.ports.map(pair);
  for (const p of ports)
    if (!PORT(p.listen) || !PORT(p.backend)) found.push(`port ${JSON.stringify(p)} is not 1–65535`);
  if (new Set(ports.map((p) => p.listen)).size !== ports.length) found.push('a frontend port repeats');
  if (!PORT(s.healthPort)) found.push(`healthPort ${s.healthPort} is not 1–65535`);
  if (!/^\/[\x21-\x7e]*$/.test(s.healthPath) || s.healthPath.includes('#'))
    found.push(`healthPath ${JSON.stringify(s.healthPath)} is not an absolute path of printable characters`);
  if (!Number.isInteger(s.healthIntervalMs) || s.healthIntervalMs < 100)
    found.push(`healthIntervalMs ${s.healthIntervalMs} is not a whole number of at least 100`);
  for (const b of s.backends) {
    if (!HAPROXY_NAME.test(b.name)) found.push(`backend name ${JSON.stringify(b.name)} is not allowed`);
    if (!Number.isInteger(b.id) || b.id < 1)
      found.push(`backend ${b.name}: id ${b.id} is not a positive integer`);
    if (!isIPv4(b.address))
      found.push(`backend ${b.name}: ${JSON.stringify(b.address)} is not an IPv4 address`);
  }
  if (new Set(s.backends.map((b) => b.name)).size !== s.backends.length) found.push('a backend name repeats');
  if (new Set(s.backends.map((b) => b.id)).size !== s.backends.length) found.push('a backend id repeats');
  for (const [key, path] of [
    ['adminSocket', s.adminSocket],
    ['pidFile', s.pidFile],
    ['stateFile', s.stateFile],
  ] as const)
    if (path !== undefined && !PATH.test(path))
      found.push(`${key} ${JSON.stringify(path)} is not an absolute path of [A-Za-z0-9._/-]`);
  return found;
}

/** The haproxy configuration; throws WSFLEET_LAB_SERVICE listing every problem of the settings. */
export function renderHaproxyConfig(s: LbSettings): string {
  const found = problems(s);
  if (found.length > 0)
    throw new LabError('WSFLEET_LAB_SERVICE', `load balancer settings refused:\n  - ${found.join('\n  - ')}`);
  const health = s.backends.map((b) => `    server ${b.name} ${b.address}:${s.healthPort} id ${b.id}`);
  const listens = s.ports
    .map(pair)
    .flatMap((p) => [
      '',
      `listen ${portBackend(p)}`,
      `    bind ${s.vip}:${p.listen}`,
      ...s.backends.map(
        (b) => `    server ${b.name} ${b.address}:${p.backend} id ${b.id} track ${HEALTH_BACKEND}/${b.name}`,
      ),
    ]);
  return [
    '# The lab load balancer, rendered by wsfleet (scripts/lab/haproxy.ts). Run: haproxy -W -db -f THIS',
    'global',
    // Run with -db, haproxy writes its alerts and every server state change to stderr; traffic
    // is not logged (no `log` line), as a passthrough load balancer has no access log either.
    `    stats socket ${s.adminSocket} mode 600 level admin`,
    `    pidfile ${s.pidFile}`,
    ...(s.stateFile === undefined ? [] : [`    server-state-file ${s.stateFile}`]),
    '',
    'defaults',
    '    mode tcp',
    ...(s.stateFile === undefined ? [] : ['    load-server-state-from-file global']),
    // Client-IP affinity, as the fleet's backend service (CLIENT_IP): a client that reconnects
    // lands on the VM that has its session. Consistent hashing over the stable server ids moves
    // only the clients of a VM that comes or goes, not everyone's.
    '    balance source',
    '    hash-type consistent',
    '    timeout connect 5s',
    // WebSockets stay open for an hour and more; the app's pings keep them from idling that long.
    '    timeout client 1h',
    '    timeout server 1h',
    '    timeout tunnel 1h',
    `    timeout check ${s.healthIntervalMs}ms`,
    '',
    // One check per VM, as GCP's backend service has one health check: the port backends track
    // these servers, so a VM leaves and rejoins every port at once, and drain or maint set here
    // apply to all its ports.
    `backend ${HEALTH_BACKEND}`,
    '    option httpchk',
    `    http-check send meth GET uri ${s.healthPath} ver HTTP/1.1 hdr Host ${s.vip}`,
    '    http-check expect status 200',
    // fall 2: one lost check (nginx reloading, a slow answer) does not take a VM out, two in a
    // row do, within about two intervals. rise 2: the fleet's healthy threshold, so a VM that is
    // still starting does not flap in and out.
    `    default-server check port ${s.healthPort} inter ${s.healthIntervalMs}ms fall 2 rise 2`,
    ...health,
    ...listens,
    '',
  ].join('\n');
}

export function haproxyArgs(configFile: string): string[] {
  return ['-W', '-db', '-f', configFile];
}

/** Writes the file whole or not at all: a reload never reads half of it. */
async function writeAtomic(file: string, text: string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, { mode: 0o600 });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Writes the configuration, and an empty server-state file where one is named and there is none
 * (haproxy warns about a missing one; `1` is the format's version line).
 */
export async function writeHaproxyConfig(configFile: string, s: LbSettings): Promise<void> {
  await writeAtomic(configFile, renderHaproxyConfig(s));
  if (s.stateFile === undefined) return;
  await writeFile(s.stateFile, '1\n', { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}

/** `haproxy -c`: resolves if haproxy accepts the file; otherwise throws quoting haproxy. */
export async function checkHaproxyConfig(configFile: string): Promise<void> {
  const r = await execa('haproxy', ['-c', '-f', configFile], { reject: false, timeout: 15_000, all: true });
  if (!r.failed) return;
  const why =
    (r as { code?: string }).code === 'ENOENT'
      ? 'haproxy is not installed (Debian: apt-get install haproxy)'
      : (r.all ?? '').trim() || r.shortMessage;
  throw new LabError('WSFLEET_LAB_SERVICE', `haproxy refused ${configFile}:\n${why}`);
}

/**
 * Reloads a running haproxy with the configuration now in `configFile`: checks it first (a
 * refused file leaves the running one alone), saves the servers' states for the new worker to
 * read (with a stateFile), then sends SIGUSR2 to the master named in the pidFile. Open
 * connections stay on the old worker, which exits when the last of them closes.
 */
export async function reloadHaproxy(configFile: string, s: LbSettings): Promise<void> {
  await checkHaproxyConfig(configFile);
  if (s.stateFile !== undefined) await writeAtomic(s.stateFile, await dumpServerState(s.adminSocket));
  const pid = Number((await readFile(s.pidFile, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 1)
    throw new LabError('WSFLEET_LAB_SERVICE', `${s.pidFile} holds no haproxy master pid`);
  process.kill(pid, 'SIGUSR2');
}
