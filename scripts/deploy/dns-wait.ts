/**
 * Between the static address and the renewer: wait, bounded by --dns-timeout, until each
 * certificate name resolves to the load balancer's address. The renewer's self-check and the
 * CA's validation both need that, and a name looked up before its record exists is cached as
 * missing (negative caching, up to the zone's SOA minimum): starting the renewer first only
 * costs time. Progress is printed whenever what is seen changes.
 */
import { Resolver } from 'node:dns/promises';
import { DeployError } from './errors.ts';
import type { Progress } from './progress.ts';

/** What the wait needs of a resolver; `dns.promises.Resolver` is one. */
export interface AddressResolver {
  resolve4(name: string): Promise<string[]>;
}

/** The given server (`IP[:port]`), or the system's configured servers (not /etc/hosts). */
export function createAddressResolver(server: string | undefined, timeoutMs = 5_000): AddressResolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (server !== undefined) resolver.setServers([server]);
  return resolver;
}

export interface DnsWaitOptions {
  readonly names: readonly string[];
  readonly address: string;
  readonly resolver: AddressResolver;
  readonly timeoutMs: number;
  readonly pollMs: number;
}

/** Where a name stands: resolving to the address, or what it resolves to instead. */
export async function nameState(resolver: AddressResolver, name: string, address: string): Promise<string> {
  try {
    const found = await resolver.resolve4(name);
    if (found.includes(address)) return 'ok';
    return found.length === 0 ? 'no A record' : `resolves to ${found.join(', ')}`;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOTFOUND') return 'no such name (NXDOMAIN)';
    if (code === 'ENODATA') return 'no A record';
    return `lookup failed (${typeof code === 'string' ? code : (err as Error).message})`;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitForDns(progress: Progress, options: DnsWaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const names = [...new Set(options.names)];
  let last = '';
  for (;;) {
    const states = await Promise.all(
      names.map(async (name) => [name, await nameState(options.resolver, name, options.address)] as const),
    );
    const missing = states.filter(([, state]) => state !== 'ok');
    const line =
      missing.length === 0
        ? `DNS: every name resolves to ${options.address}`
        : `DNS: ${names.length - missing.length} of ${names.length} names resolve to ${options.address} (${missing.map(([n, s]) => `${n}: ${s}`).join('; ')})`;
    if (line !== last) progress.step(line);
    last = line;
    if (missing.length === 0) return;
    if (Date.now() >= deadline)
      throw new DeployError(
        'WSFLEET_DEPLOY_DNS_TIMEOUT',
        `after ${Math.round(options.timeoutMs / 1000)} s not every name resolves to ${options.address} (${missing.map(([n, s]) => `${n}: ${s}`).join('; ')}); set the DNS records printed above, then run \`wsfleet deploy\` again (it continues here), or pass --no-wait-dns to start the renewer anyway`,
      );
    await sleep(Math.min(options.pollMs, Math.max(0, deadline - Date.now())));
  }
}
