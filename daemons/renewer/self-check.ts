/**
 * Before asking the CA to validate a name, check that the CA's request would reach this renewer:
 * resolve the name's A and AAAA records (as the CA will, from public DNS, not /etc/hosts), then
 * fetch a probe from every address on the HTTP-01 port with `Host: <name>`, through whatever load
 * balancer sits there, and compare the body with what this renewer's challenge server holds.
 * A failure says exactly where the path broke, so an operator fixes DNS or the load balancer
 * instead of burning the CA's failed-validation limit.
 */
import { Resolver } from 'node:dns/promises';
import { request } from 'node:http';
import { isIPv6 } from 'node:net';
import { CHALLENGE_PATH, type Probe } from './challenge-server.ts';

export type SelfCheckStage = 'dns' | 'connect' | 'timeout' | 'http' | 'mismatch';

export type SelfCheckResult =
  | { readonly ok: true; readonly addresses: readonly string[] }
  | {
      readonly ok: false;
      readonly stage: SelfCheckStage;
      readonly detail: string;
      /** The address that failed, when the failure is about one. */
      readonly address?: string;
    };

/** What the self-check needs of a DNS resolver; `dns.promises.Resolver` is one. */
export interface NameResolver {
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export interface SelfCheckOptions {
  readonly name: string;
  /** The challenge server itself, or the answers it shares through the store (shared-challenges.ts). */
  readonly challenges: {
    addProbe(): Probe | Promise<Probe>;
    remove(token: string): void | Promise<void>;
  };
  /** The HTTP-01 port the CA connects to: 80, except in labs and tests. */
  readonly port?: number;
  /** Default: the system's DNS servers (see `createResolver`). */
  readonly resolver?: NameResolver;
  /** Bound on each HTTP fetch, connection included. */
  readonly timeoutMs?: number;
}

const DEFAULT_PORT = 80;
const DEFAULT_TIMEOUT_MS = 5_000;
/** A key authorization is ~87 bytes; anything much longer is someone else's page. */
const BODY_LIMIT = 4_096;
/** Connection errors that mean this host has no route to an address family, not a broken path. */
const NO_ROUTE = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/**
 * A resolver with its own servers (`['127.0.0.1:8053']` in the lab), or the system's when none
 * are given. Bounded: each query times out after `timeoutMs` and is tried twice.
 */
export function createResolver(servers?: readonly string[], timeoutMs = 2_000): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers !== undefined && servers.length > 0) resolver.setServers([...servers]);
  return resolver;
}

export async function selfCheck(options: SelfCheckOptions): Promise<SelfCheckResult> {
  const { name, challenges } = options;
  const port = options.port ?? DEFAULT_PORT;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const resolver = options.resolver ?? createResolver();

  const resolved = await resolveAll(resolver, name);
  if (!resolved.ok) return resolved;

  const probe = await challenges.addProbe();
  try {
    const checked: string[] = [];
    for (const address of resolved.addresses) {
      const result = await fetchProbe({ name, address, port, token: probe.token, timeoutMs });
      if (result.kind === 'no-route') continue; // see NO_ROUTE: the CA may well reach it
      if (result.kind === 'failed') return { ok: false, address, stage: result.stage, detail: result.detail };
      if (result.body.trim() !== probe.value) {
        return {
          ok: false,
          address,
          stage: 'mismatch',
          detail: `${describe(address, port)}${server(result.server)} answered ${JSON.stringify(snippet(result.body))}, not this renewer's probe: the name or the load balancer leads to another server`,
        };
      }
      checked.push(address);
    }
    if (checked.length === 0) {
      return {
        ok: false,
        stage: 'connect',
        detail: `no route from this host to any address of ${name} (${resolved.addresses.join(', ')})`,
      };
    }
    return { ok: true, addresses: checked };
  } finally {
    await challenges.remove(probe.token);
  }
}

type Resolved = { ok: true; addresses: string[] } | { ok: false; stage: 'dns'; detail: string };

async function resolveAll(resolver: NameResolver, name: string): Promise<Resolved> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
  const addresses = [
    ...(v4.status === 'fulfilled' ? v4.value : []),
    ...(v6.status === 'fulfilled' ? v6.value : []),
  ];
  if (addresses.length > 0) return { ok: true, addresses };
  const codes = [v4, v6].flatMap((r) =>
    r.status === 'rejected' ? [String((r.reason as { code?: unknown } | undefined)?.code)] : [],
  );
  // Prefer the reason that says most: a timeout or a server failure over "no such record".
  const hard = codes.find((code) => code !== 'ENODATA' && code !== 'ENOTFOUND');
  if (hard !== undefined) {
    const what = hard === 'ETIMEOUT' ? 'timed out' : `failed (${hard})`;
    return { ok: false, stage: 'dns', detail: `DNS lookup of ${name} ${what}` };
  }
  if (codes.includes('ENOTFOUND'))
    return { ok: false, stage: 'dns', detail: `${name} does not exist in DNS (NXDOMAIN)` };
  return { ok: false, stage: 'dns', detail: `${name} has no A or AAAA record` };
}

type Fetched =
  | { kind: 'answered'; body: string; server: string | undefined }
  | { kind: 'failed'; stage: Exclude<SelfCheckStage, 'dns' | 'mismatch'>; detail: string }
  | { kind: 'no-route' };

function fetchProbe(args: {
  name: string;
  address: string;
  port: number;
  token: string;
  timeoutMs: number;
}): Promise<Fetched> {
  const { name, address, port, token, timeoutMs } = args;
  const where = describe(address, port);
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const done = (result: Fetched): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => {
      done({
        kind: 'failed',
        stage: 'timeout',
        detail: connected
          ? `${where} accepted the connection but sent no complete answer within ${timeoutMs} ms`
          : `no connection to ${where} within ${timeoutMs} ms`,
      });
    }, timeoutMs);
    const req = request(
      {
        host: address,
        port,
        path: `${CHALLENGE_PATH}${token}`,
        method: 'GET',
        // Host as the CA sends it: the bare name on port 80, name:port otherwise.
        headers: {
          host: port === DEFAULT_PORT ? name : `${name}:${port}`,
          'user-agent': 'wsfleet-self-check',
        },
        agent: false,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const serverHeader = header(res.headers.server);
        if (status >= 300 && status < 400) {
          const location = header(res.headers.location) ?? '(no Location)';
          done({
            kind: 'failed',
            stage: 'http',
            detail: `HTTP ${status} redirect from ${where}${server(serverHeader)} to ${location}`,
          });
          return;
        }
        if (status !== 200) {
          done({
            kind: 'failed',
            stage: 'http',
            detail: `HTTP ${status} from ${where}${server(serverHeader)}`,
          });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= BODY_LIMIT) chunks.push(chunk);
          else done({ kind: 'answered', body: Buffer.concat(chunks).toString(), server: serverHeader });
        });
        res.on('end', () =>
          done({ kind: 'answered', body: Buffer.concat(chunks).toString(), server: serverHeader }),
        );
        res.on('error', (err) =>
          done({ kind: 'failed', stage: 'http', detail: `${where} broke off: ${err.message}` }),
        );
      },
    );
    req.on('socket', (socket) => socket.once('connect', () => (connected = true)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      const code = err.code ?? 'error';
      if (!connected && isIPv6(address) && NO_ROUTE.has(code)) {
        done({ kind: 'no-route' });
      } else if (!connected && code === 'ECONNREFUSED') {
        done({ kind: 'failed', stage: 'connect', detail: `connection refused by ${where}` });
      } else if (!connected) {
        done({ kind: 'failed', stage: 'connect', detail: `cannot connect to ${where}: ${code}` });
      } else {
        done({
          kind: 'failed',
          stage: 'http',
          detail: `${where} closed the connection without an HTTP answer (${code})`,
        });
      }
    });
    req.end();
  });
}

function describe(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function server(value: string | undefined): string {
  return value === undefined ? '' : ` (server: ${value})`;
}

function snippet(body: string): string {
  const text = body.trim();
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
