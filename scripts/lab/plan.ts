/**
 * The lab's names and addresses, derived from its name and subnet alone, so that `down` finds
 * everything `up` made even when `up` failed before writing its state.
 *
 *   <subnet>.1         the lab's services (Redis, Pebble and its DNS, the GCS stand-in, the metadata
 *                      server and Secret Manager stand-in), on the bridge
 *   <subnet>.2         the load balancer's address
 *   <subnet>.3–.9      more renewer VMs (a second renewer, as during a group's update)
 *   <subnet>.10        the renewer VM
 *   <subnet>.11–.99    app VMs, one address per VM ever made (a replaced VM gets a new one, as on GCE)
 *   <subnet>.100–.131  client addresses, for connections made from the host through `lab forward`
 */
export const PORTS = {
  redis: 6379,
  pebble: 14000,
  pebbleManagement: 15000,
  dns: 8053,
  dnsManagement: 8055,
  gcs: 4443,
  google: 8089,
} as const;

export const CLIENT_ADDRESSES = 32;

export interface LabPlan {
  readonly lab: string;
  /** The lab namespace: the bridge, the services and the load balancer live there. */
  readonly netns: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly services: string;
  readonly vip: string;
  readonly bucket: string;
  /** The namespace of a machine. */
  machineNetns(name: string): string;
  /** nspawn's machine name, unique on the host. */
  machineName(name: string): string;
  /** The machine's end of its link on the bridge (≤ 15 characters). */
  hostVeth(name: string): string;
  renewerAddress: string;
  /** The address of another renewer VM, 0–6. */
  spareRenewerAddress(index: number): string;
  appAddress(index: number): string;
  clientAddress(index: number): string;
}

export function labPlan(lab: string, subnet: string): LabPlan {
  const prefix = `wsfleet-${lab}`;
  return {
    lab,
    netns: prefix,
    bridge: 'br-lab',
    subnet,
    services: `${subnet}.1`,
    vip: `${subnet}.2`,
    bucket: `wsfleet-${lab}-certs`,
    machineNetns: (name) => `${prefix}-${name}`,
    machineName: (name) => `${prefix}-${name}`,
    // Inside the lab namespace, so only the machine's name needs to be unique.
    hostVeth: (name) => `ve-${name}`.slice(0, 15),
    renewerAddress: `${subnet}.10`,
    spareRenewerAddress: (index) => {
      if (index < 0 || index > 6) throw new RangeError(`spare renewer ${index} is outside 0–6`);
      return `${subnet}.${3 + index}`;
    },
    appAddress: (index) => {
      if (index < 1 || index > 89) throw new RangeError(`app VM index ${index} is outside 1–89`);
      return `${subnet}.${10 + index}`;
    },
    clientAddress: (index) => {
      if (index < 0 || index >= CLIENT_ADDRESSES)
        throw new RangeError(`client address ${index} is outside 0–31`);
      return `${subnet}.${100 + index}`;
    },
  };
}
