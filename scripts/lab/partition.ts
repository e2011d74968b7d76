/**
 * Cutting one VM off one service, as a network outage does: packets from the VM to `host:port`
 * are routed into a link that leads nowhere, so its connections hang until their own timeouts
 * (nothing refuses them, as nothing answers across a broken path), while the rest of its traffic —
 * Redis on the same host, the load balancer's checks — flows as before, and other VMs still reach
 * the service.
 *
 * Made with iproute2 alone, in the VM's own namespace: a policy rule for the destination and port
 * sends those packets to a table whose one route leads into a veth pair without ARP, whose other
 * end has no address and drops them.
 */
import { execa } from 'execa';
import { LabError } from './errors.ts';
import type { LabPlan } from './plan.ts';

export interface Cut {
  /** Puts the path back. Idempotent. */
  restore(): Promise<void>;
}

/** Above the main table's rules (32766), below the local table's (0). */
const RULE_PRIORITY = 100;

async function ip(netns: string, args: readonly string[]): Promise<void> {
  const r = await execa('ip', ['-n', netns, ...args], { reject: false, timeout: 15_000 });
  if (r.failed)
    throw new LabError(
      'WSFLEET_LAB_SERVICE',
      `ip -n ${netns} ${args.join(' ')} failed: ${r.stderr || r.shortMessage}`,
    );
}

/** Cuts VM `name` off TCP `host:port` until `restore()`. */
export async function cutOff(plan: LabPlan, name: string, host: string, port: number): Promise<Cut> {
  const netns = plan.machineNetns(name);
  // One table and one link per port: cuts of different ports in one VM stay apart.
  const table = String(10_000 + port);
  const link = `cut${port}`;
  const selector = ['to', `${host}/32`, 'ipproto', 'tcp', 'dport', String(port)];
  let restored = false;
  const restore = async () => {
    if (restored) return;
    restored = true;
    // The rule first: from then on the packets take the usual route again.
    await execa('ip', ['-n', netns, 'rule', 'del', ...selector, 'lookup', table], { reject: false });
    await execa('ip', ['-n', netns, 'link', 'delete', link], { reject: false });
  };
  try {
    await ip(netns, ['link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}p`]);
    await ip(netns, ['link', 'set', link, 'arp', 'off', 'up']);
    await ip(netns, ['link', 'set', `${link}p`, 'up']);
    await ip(netns, ['route', 'add', `${host}/32`, 'dev', link, 'table', table]);
    await ip(netns, ['rule', 'add', ...selector, 'lookup', table, 'priority', String(RULE_PRIORITY)]);
  } catch (err) {
    await restore();
    throw err;
  }
  return { restore };
}
