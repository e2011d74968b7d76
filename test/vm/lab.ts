/**
 * The VM tests' view of their lab: its state, its machines, and clients that reach the load
 * balancer from chosen lab addresses (through port forwards, so each client address is a
 * different "user" for the load balancer's client-IP affinity).
 */

import type { ClientOptions } from 'ws';
import { signToken } from '../../daemons/app/token.ts';
import { type CertStore, createCertStore, openStore } from '../../daemons/shared/store/index.ts';
import { type Forward, startForward } from '../../scripts/lab/forward.ts';
import { serverStates } from '../../scripts/lab/haproxy.ts';
import { adminSocket } from '../../scripts/lab/lb.ts';
import { attachMachine, type Machine } from '../../scripts/lab/machine.ts';
import { labPlan, PORTS } from '../../scripts/lab/plan.ts';
import { servedInside } from '../../scripts/lab/rollout.ts';
import { labSecretsOf, readLabTokenSecret } from '../../scripts/lab/secrets.ts';
import { startService, stopService } from '../../scripts/lab/services.ts';
import { type LabState, labDir, requireState, writeState } from '../../scripts/lab/state.ts';
import { BUNDLE } from '../helpers/app.ts';
import { waitFor } from '../helpers/wait.ts';
import { connect, type Frame, type TestClient } from '../helpers/ws-client.ts';

export const LAB = 'vmtest';
export const STATE_DIR = '/run/wsfleet-lab';
export const POLL_INTERVAL_S = 5;
export const LAB_ARGS = [
  '--lab',
  LAB,
  '--subnet',
  '10.214.0',
  '--domain',
  'ws.vmtest.test',
  '--apps',
  '2',
  '--poll-interval',
  String(POLL_INTERVAL_S),
  // cert-sync gets what a deploy with the staging directory gives it, nothing more.
  '--trust',
  'as-deployed',
];

export const state = (): Promise<LabState> => requireState(STATE_DIR, LAB);

export async function machine(name: string): Promise<Machine> {
  const s = await state();
  const m = s.machines.find((x) => x.name === name);
  const attached = m === undefined ? undefined : await attachMachine(m.name, m.machineName, m.pid);
  if (attached === undefined) throw new Error(`machine ${name} is not running`);
  return attached;
}

export async function appNames(): Promise<string[]> {
  return (await state()).machines.filter((m) => m.role === 'app').map((m) => m.name);
}

/** Serial each app VM's nginx serves for the domain. */
export async function servedSerials(): Promise<Record<string, string | null>> {
  const s = await state();
  const out: Record<string, string | null> = {};
  for (const name of await appNames()) out[name] = await servedInside(await machine(name), s.domain);
  return out;
}

/** cert-sync's /healthz and /metrics inside an app VM: its default --metrics-port, which the user-data keeps. */
const CERT_SYNC_ADMIN = 'http://127.0.0.1:9103';

/** Runs inside an app VM, on its own Node: GET of a path of cert-sync's admin server, as JSON. */
const ADMIN_GET = `
fetch(process.argv[1], { signal: AbortSignal.timeout(5000) })
  .then(async (r) => console.log(JSON.stringify({ status: r.status, text: await r.text() })))
  .catch((e) => { console.error(String(e)); process.exit(1); });
`;

async function certSyncGet(name: string, path: string): Promise<{ status: number; text: string }> {
  const out = await (await machine(name)).run(
    ['/opt/wsfleet/node/bin/node', '-e', ADMIN_GET, `${CERT_SYNC_ADMIN}${path}`],
    15_000,
  );
  return JSON.parse(out) as { status: number; text: string };
}

export interface CertSyncHealth {
  readonly status: number;
  readonly body: {
    readonly status: string;
    readonly store: { readonly reached: boolean | null; readonly lastAttempt: string | null };
    readonly certificates: readonly {
      readonly name: string;
      readonly installed: { readonly serial: string } | null;
      readonly lastRefusal: { readonly reason: string; readonly serial?: string } | null;
    }[];
  };
}

/** What cert-sync's /healthz on app VM `name` answers. */
export async function certSyncHealth(name: string): Promise<CertSyncHealth> {
  const { status, text } = await certSyncGet(name, '/healthz');
  return { status, body: JSON.parse(text) as CertSyncHealth['body'] };
}

/** The value of an unlabelled series on cert-sync's /metrics of app VM `name` (undefined when absent). */
export async function certSyncMetric(name: string, series: string): Promise<number | undefined> {
  const { text } = await certSyncGet(name, '/metrics');
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export async function lbStates(): Promise<Record<string, string>> {
  const states = await serverStates(adminSocket(labDir(STATE_DIR, LAB)));
  return Object.fromEntries(states.filter((x) => x.backend === 'health').map((x) => [x.server, x.status]));
}

const forwards = new Map<string, Forward>();

/** A forward from this host's 127.0.0.1 to `host:port` in the lab, from client address `client`. */
export async function forward(client: number, host?: string, port = 443): Promise<Forward> {
  const s = await state();
  const plan = labPlan(LAB, s.subnet);
  const key = `${client}/${host ?? plan.vip}:${port}`;
  const existing = forwards.get(key);
  if (existing !== undefined) return existing;
  const f = await startForward({
    netns: plan.netns,
    target: { host: host ?? plan.vip, port },
    sourceAddress: plan.clientAddress(client),
    bundle: BUNDLE,
  });
  forwards.set(key, f);
  return f;
}

export async function closeForwards(): Promise<void> {
  await Promise.allSettled([...forwards.values()].map((f) => f.close()));
  forwards.clear();
}

/**
 * A connection token for the lab's clients, minted from the lab's token secret (the one its app
 * VMs read from the Secret Manager stand-in at boot) as an operator mints one.
 */
export async function token(sub = 'vmtest', ttlSeconds = 3600): Promise<string> {
  const secret = await readLabTokenSecret(labSecretsOf(STATE_DIR, LAB));
  return signToken({ exp: Math.floor(Date.now() / 1000) + ttlSeconds, sub }, secret);
}

/**
 * A WebSocket through the load balancer over TLS, from client address `client`, trusting Pebble's
 * root, with a token of the lab (`withToken: false`: none).
 */
export async function wss(
  client: number,
  { withToken = true }: { withToken?: boolean } = {},
): Promise<TestClient & { node: string }> {
  const s = await state();
  const f = await forward(client);
  const query = withToken ? `?token=${encodeURIComponent(await token(`client-${client}`))}` : '';
  // ws hands its options to https.request, so TLS gets the name (SNI and the identity check).
  const options = {
    ca: s.rootPem,
    servername: s.domain,
    headers: { host: s.domain },
    handshakeTimeout: 10_000,
  } as ClientOptions;
  const c = await connect(`wss://127.0.0.1:${f.port}/ws${query}`, options);
  const welcome = await c.next((frame) => frame.op === 'welcome', 10_000);
  return Object.assign(c, { node: String(welcome.node) });
}

/** The lab's certificate store, reached through a forward to the GCS stand-in. */
export async function certStore(): Promise<CertStore> {
  const s = await state();
  const plan = labPlan(LAB, s.subnet);
  const f = await forward(31, plan.services, PORTS.gcs);
  return createCertStore(
    openStore(`gs://${plan.bucket}`, { gcs: { apiEndpoint: `http://127.0.0.1:${f.port}` } }),
  );
}

/** Stops a lab service (SIGTERM, or SIGSTOP to make it hang) and starts it again. */
export async function restartService(name: string): Promise<void> {
  const s = await state();
  const service = s.services[name];
  if (service === undefined) throw new Error(`no service ${name}`);
  await stopService(service);
  const plan = labPlan(LAB, s.subnet);
  const again = startService(plan, service.argv, service.log);
  await writeState(STATE_DIR, { ...s, services: { ...s.services, [name]: again } });
}

/**
 * A subscriber that stays subscribed: on a closed connection it reconnects (from the same client
 * address) and resumes from the last offset it saw, as the demo page does.
 */
/** What a follower was told, in order: each message, and each history it was told is gone. */
export type FollowerEvent =
  | { readonly kind: 'message'; readonly data: string; readonly offset: number }
  | { readonly kind: 'reset'; readonly reason: string; readonly offset: number };

export interface Follower {
  readonly received: string[];
  readonly events: FollowerEvent[];
  readonly closes: number[];
  readonly nodes: string[];
  /** Waits until every one of `data` was received. */
  saw(data: readonly string[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function follow(client: number, channel: string): Promise<Follower> {
  const received: string[] = [];
  const events: FollowerEvent[] = [];
  const closes: number[] = [];
  const nodes: string[] = [];
  let offset: number | undefined;
  let epoch: string | undefined;
  let current: (TestClient & { node: string }) | undefined;
  let stopped = false;

  const onFrame = (frame: Frame) => {
    if (frame.op === 'subscribed' && frame.channel === channel && frame.recovered === false)
      events.push({ kind: 'reset', reason: String(frame.reason), offset: Number(frame.offset) });
    if (frame.op === 'subscribed' && typeof frame.epoch === 'string') {
      if (epoch !== undefined && frame.epoch !== epoch) offset = undefined;
      epoch = frame.epoch;
    }
    if (frame.op === 'message' && frame.channel === channel) {
      received.push(String(frame.data));
      events.push({ kind: 'message', data: String(frame.data), offset: Number(frame.offset) });
      offset = Number(frame.offset);
    }
  };

  async function open(): Promise<void> {
    const c = await wss(client);
    current = c;
    nodes.push(c.node);
    const seen = c.frames.length;
    c.ws.on('message', (raw) => onFrame(JSON.parse(raw.toString()) as Frame));
    for (const frame of c.frames.slice(0, seen)) onFrame(frame);
    c.send({
      op: 'subscribe',
      channel,
      ...(offset === undefined ? {} : { since: offset }),
      ...(epoch === undefined ? {} : { epoch }),
    });
    await c.next((f) => f.op === 'subscribed' && f.channel === channel, 10_000);
    void c.closed.then(async ({ code }) => {
      closes.push(code);
      if (stopped) return;
      // Reconnect with a short pause, bounded: the load balancer needs a moment to see a dead VM.
      for (let attempt = 0; attempt < 60 && !stopped; attempt++) {
        await new Promise((r) => setTimeout(r, 250 + attempt * 100));
        try {
          await open();
          return;
        } catch {
          // try again
        }
      }
    });
  }

  await open();
  return {
    received,
    events,
    closes,
    nodes,
    async saw(data, timeoutMs = 30_000) {
      await waitFor(
        () => data.every((d) => received.includes(d)),
        timeoutMs,
        `messages on ${channel} (${received.length} received, missing ${data
          .filter((d) => !received.includes(d))
          .slice(0, 5)
          .join(', ')})`,
      );
    },
    async stop() {
      stopped = true;
      await current?.close();
    },
  };
}

/**
 * Publishes `count` messages on `channel` one after the other from client address `client`,
 * each waiting for its ack (or error); resolves with the data of those acknowledged. A closed
 * connection is reopened.
 */
export async function publishSteadily(
  client: number,
  channel: string,
  count: number,
  prefix: string,
  pauseMs = 50,
): Promise<string[]> {
  const acked: string[] = [];
  let c = await wss(client);
  for (let i = 0; i < count; i++) {
    const data = `${prefix}-${i}`;
    try {
      if (c.ws.readyState !== c.ws.OPEN) c = await wss(client);
      c.send({ op: 'publish', channel, data, id: data });
      const answer = await c.next((f) => f.id === data && (f.op === 'ack' || f.op === 'error'), 10_000);
      if (answer.op === 'ack') acked.push(data);
    } catch {
      // Not acknowledged: the publisher would retry; for the test it is not a promise made.
    }
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  await c.close();
  return acked;
}
