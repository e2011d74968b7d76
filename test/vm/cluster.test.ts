/**
 * The cluster end to end on the lab (`wsfleet lab up`, brought up by global-setup.ts): VMs
 * booted from the local images with the deploy's user-data, the renewer getting the first
 * certificate through the load balancer, WebSockets over TLS through the load balancer, and the
 * failures a real cluster meets. The scenarios run in this order and share the lab; each waits
 * with a bound and cleans up what it opened.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { certificateInfo } from '../../daemons/shared/certificate-info.ts';
import { bootSpareRenewerVm, removeVm } from '../../scripts/lab/machines.ts';
import { type Cut, cutOff } from '../../scripts/lab/partition.ts';
import { labPlan, PORTS } from '../../scripts/lab/plan.ts';
import { labRollout } from '../../scripts/lab/rollout.ts';
import { labSecretsOf, readLabTokenSecret } from '../../scripts/lab/secrets.ts';
import { labDir } from '../../scripts/lab/state.ts';
import { BUNDLE } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';
import type { LogLine } from '../helpers/logs.ts';
import { withRandomSerial } from '../helpers/tamper.ts';
import { waitFor } from '../helpers/wait.ts';
import { type JournalMark, journalMark, linesSince } from './journal.ts';
import {
  appNames,
  certStore,
  certSyncHealth,
  certSyncMetric,
  closeForwards,
  type Follower,
  follow,
  forward,
  LAB,
  lbStates,
  machine,
  POLL_INTERVAL_S,
  publishSteadily,
  restartService,
  STATE_DIR,
  servedSerials,
  state,
  token,
  wss,
} from './lab.ts';

const exec = promisify(execFile);
/** A new certificate reaches every VM within one poll interval of being stored; the rest is margin for the install. */
const ROTATION_BOUND_MS = POLL_INTERVAL_S * 1000 + 15_000;
/**
 * An app VM notices a cut-off store within one poll interval plus one store read that fails:
 * the store gives up on a read after 20 s (its deadline, retries included); the rest is margin.
 */
const OUTAGE_NOTICE_MS = POLL_INTERVAL_S * 1000 + 20_000 + 15_000;
/** Once the path is back: the read in flight may still wait out its deadline, then a rotation. */
const OUTAGE_RECOVERY_MS = 20_000 + ROTATION_BOUND_MS;
const CERT_SYNC_UNIT = 'wsfleet-cert-sync.service';
const RENEWER_UNIT = 'wsfleet-renewer.service';
/** The steps a renewer's check of a name ends at when another renewer orders it. */
const RACE_LOSSES = new Set(['locked', 'not_due', 'already_renewed']);

/** Client addresses (0–30) by the app VM the load balancer sends them to. */
async function clientsByNode(): Promise<Map<string, number[]>> {
  const byNode = new Map<string, number[]>();
  for (let client = 0; client < 16; client++) {
    const c = await wss(client);
    byNode.set(c.node, [...(byNode.get(c.node) ?? []), client]);
    await c.close();
  }
  return byNode;
}

/** One client address on each of two different app VMs. */
async function twoNodes(): Promise<[number, number]> {
  const byNode = [...(await clientsByNode()).values()];
  const a = byNode[0]?.[0];
  const b = byNode[1]?.[0];
  if (a === undefined || b === undefined) throw new Error('the load balancer sends every client to one VM');
  return [a, b];
}

/**
 * A new certificate now. The scenarios issue more than the rate guard allows a name in a week
 * (two), on purpose; the guard itself is proven by the renewer's own tests.
 */
async function renewNow(): Promise<string> {
  const renewer = await machine('renewer');
  return renewer.run(
    ['/usr/local/bin/wsfleet', 'renewer', 'renew', (await state()).domain, '--force', '--ignore-rate-guard'],
    90_000,
  );
}

/** Waits (bounded) until every app VM serves `serial`. */
async function servedEverywhere(serial: string, timeoutMs = ROTATION_BOUND_MS): Promise<void> {
  await waitFor(
    async () => Object.values(await servedSerials()).every((s) => s === serial),
    timeoutMs,
    `serial ${serial} served by every app VM`,
  );
}

async function storeSerial(): Promise<string> {
  const s = await state();
  const current = await (await certStore()).current(s.domain);
  if (current === undefined) throw new Error('no certificate in the store');
  return current.certificate.serial.toLowerCase();
}

describe(`the cluster on lab ${LAB}`, () => {
  const followers: Follower[] = [];
  afterAll(async () => {
    await Promise.allSettled(followers.map((f) => f.stop()));
    await closeForwards();
  });

  describe('first boot, with no certificate anywhere', () => {
    it('got its certificate over HTTP-01 through the load balancer, and every app VM serves it', async () => {
      const s = await state();
      expect(s.ready?.seconds).toBeGreaterThan(0);
      process.stdout.write(
        `lab up: every app VM served a certificate ${s.ready?.seconds} s after the images were ready\n`,
      );
      const serial = await storeSerial();
      const served = await servedSerials();
      expect(Object.keys(served).sort()).toEqual(['app-1', 'app-2']);
      expect(Object.values(served)).toEqual([serial, serial]);
      const log = await (await machine('renewer')).run([
        'journalctl',
        '--no-pager',
        '-o',
        'cat',
        '-u',
        'wsfleet-renewer.service',
      ]);
      expect(log).toContain('"msg":"certificate issued"');
    });

    it('trusts the certificate as a staging deploy does: --staging, no extra roots, only the shipped roots file', async () => {
      const s = await state();
      expect(s.trust).toBe('as-deployed');
      for (const name of await appNames()) {
        const vm = await machine(name);
        const env = await vm.run(['cat', '/etc/wsfleet/cert-sync.env']);
        expect(env).toMatch(/^WSFLEET_STAGING="?true"?$/m);
        expect(env).not.toContain('WSFLEET_EXTRA_ROOTS');
        // Pebble's root where the image ships Let's Encrypt's staging roots: the one difference.
        expect((await vm.run(['cat', '/opt/wsfleet/letsencrypt-staging-roots.pem'])).trim()).toBe(
          s.rootPem?.trim(),
        );
      }
    });

    it('shows each VM, its units and the served serial in `wsfleet lab status --json`', async () => {
      const { stdout } = await exec(process.execPath, [BUNDLE, 'lab', 'status', '--lab', LAB, '--json'], {
        timeout: 60_000,
      });
      const status = JSON.parse(stdout) as {
        machines: {
          name: string;
          running: boolean;
          units: Record<string, string>;
          servedSerial: string | null;
        }[];
        services: Record<string, boolean>;
      };
      const serial = await storeSerial();
      expect(Object.values(status.services).every(Boolean)).toBe(true);
      expect(status.machines.map((m) => m.name).sort()).toEqual(['app-1', 'app-2', 'renewer']);
      for (const m of status.machines) {
        expect(m.running).toBe(true);
        expect(Object.values(m.units).every((u) => u === 'active')).toBe(true);
        expect(m.servedSerial).toBe(m.name === 'renewer' ? null : serial);
      }
    });

    it('is closed as deployed: each app VM read the secrets by name at boot, and a client without a token is refused with 401', async () => {
      const secrets = labSecretsOf(STATE_DIR, LAB);
      const tokenSecret = await readLabTokenSecret(secrets);
      const redisAuth = (await readFile(secrets.redisAuthFile, 'utf8')).trim();
      for (const name of await appNames()) {
        const vm = await machine(name);
        expect((await vm.run(['systemctl', 'is-active', 'wsfleet-app-secrets.service'])).trim()).toBe(
          'active',
        );
        expect(await vm.run(['cat', '/etc/wsfleet/app-secrets.env'])).toContain(
          `WSFLEET_TOKEN_SECRET_FROM="${secrets.tokenSecretFrom}"`,
        );
        // The value reached the app through the boot fetch only: in no file cloud-init wrote.
        expect(
          await vm.run(['sh', '-c', 'cat /etc/wsfleet/*.env /var/lib/cloud/instance/user-data.txt']),
        ).not.toContain(tokenSecret);
        const pid = (
          await vm.run(['systemctl', 'show', '--property=MainPID', '--value', 'wsfleet-app.service'])
        ).trim();
        const environ = await vm.run(['cat', `/proc/${pid}/environ`]);
        expect(environ.split('\0')).toContain(`WSFLEET_TOKEN_SECRET=${tokenSecret}`);
        // Redis's AUTH string too, fetched by name from the getAuthString stand-in.
        expect((await vm.run(['systemctl', 'is-active', 'wsfleet-app-redis-auth.service'])).trim()).toBe(
          'active',
        );
        expect(environ.split('\0')).toContain(`WSFLEET_REDIS_PASSWORD=${redisAuth}`);
      }
      // Redis refuses a client without the string.
      const plan = labPlan(LAB, (await state()).subnet);
      const { stdout } = await exec('ip', [
        'netns',
        'exec',
        plan.netns,
        'redis-cli',
        '-h',
        plan.services,
        'ping',
      ]);
      expect(stdout).toContain('NOAUTH');
      for (const client of [0, 1, 2, 3]) {
        await expect(wss(client, { withToken: false })).rejects.toMatchObject({ status: 401 });
      }
    });

    it('takes wss through the load balancer to every app VM', async () => {
      const byNode = await clientsByNode();
      expect([...byNode.keys()].sort()).toEqual(await appNames());
      expect(Object.values(await lbStates())).toEqual(['UP', 'UP']);
    });
  });

  describe('affinity and fan-out', () => {
    it('sends a client that reconnects to the same VM', async () => {
      for (const client of [0, 1, 2]) {
        const nodes: string[] = [];
        for (let i = 0; i < 3; i++) {
          const c = await wss(client);
          nodes.push(c.node);
          await c.close();
        }
        expect(new Set(nodes).size).toBe(1);
      }
    });

    it("shows each client the other VM's messages", async () => {
      const [a, b] = await twoNodes();
      const onA = await follow(a, 'fanout');
      const onB = await follow(b, 'fanout');
      followers.push(onA, onB);
      expect(onA.nodes[0]).not.toBe(onB.nodes[0]);
      const fromB = await publishSteadily(b, 'fanout', 5, 'from-b', 0);
      const fromA = await publishSteadily(a, 'fanout', 5, 'from-a', 0);
      expect(fromA.length + fromB.length).toBe(10);
      await onA.saw([...fromA, ...fromB]);
      await onB.saw([...fromA, ...fromB]);
    });
  });

  describe('rotation', () => {
    it('reaches every app VM within the poll interval, and no open WebSocket drops', async () => {
      const [a, b] = await twoNodes();
      const onA = await follow(a, 'rotation');
      const onB = await follow(b, 'rotation');
      followers.push(onA, onB);
      const before = await storeSerial();
      expect(await renewNow()).toMatch(/renewed, serial [0-9a-f]+/);
      const after = await storeSerial();
      expect(after).not.toBe(before);
      await servedEverywhere(after);
      const acked = await publishSteadily(a, 'rotation', 5, 'after-rotation', 0);
      await onA.saw(acked);
      await onB.saw(acked);
      expect([onA.closes, onB.closes]).toEqual([[], []]);
    });
  });

  describe('faults', () => {
    it('keeps serving the last good certificate while the store is unreachable, says so, and installs the one published meanwhile once it is back', async () => {
      const s = await state();
      const plan = labPlan(LAB, s.subnet);
      const apps = await appNames();
      const vms = await Promise.all(apps.map(machine));
      const old = await storeSerial();
      expect(Object.values(await servedSerials())).toEqual(apps.map(() => old));
      // The report each poll ends with: the store not reached, the certificate's read failed.
      const storeFailures = async (vm: (typeof vms)[number], mark: JournalMark) =>
        (await linesSince(vm, CERT_SYNC_UNIT, mark)).filter(
          (l) =>
            l.msg === 'sync done' &&
            l.reachedStore === false &&
            Array.isArray(l.certificates) &&
            l.certificates.some(
              (c: { name?: unknown; result?: unknown; code?: unknown }) =>
                c.name === s.domain && c.result === 'failed' && c.code === 'WSFLEET_STORE_UNAVAILABLE',
            ),
        ).length;
      const cuts: Cut[] = [];
      let fresh: string | undefined;
      try {
        const cutAt = await Promise.all(vms.map(journalMark));
        // The app VMs lose their path to the store; the renewer keeps its own.
        for (const name of apps) cuts.push(await cutOff(plan, name, plan.services, PORTS.gcs));
        await waitFor(
          async () =>
            (await Promise.all(vms.map((vm, i) => storeFailures(vm, cutAt[i])))).every((n) => n >= 1),
          OUTAGE_NOTICE_MS,
          'every app VM reporting a poll that could not reach the store',
        );
        // A new certificate while the app VMs cannot see it.
        expect(await renewNow()).toMatch(/renewed, serial [0-9a-f]+/);
        fresh = await storeSerial();
        expect(fresh).not.toBe(old);
        const publishedAt = await Promise.all(vms.map(journalMark));
        // Two failed reads after the publication: the second began after the first had failed,
        // so after the new certificate was in the store — a poll that would have found it.
        await waitFor(
          async () =>
            (await Promise.all(vms.map((vm, i) => storeFailures(vm, publishedAt[i])))).every((n) => n >= 2),
          2 * OUTAGE_NOTICE_MS,
          'every app VM failing to read the store twice after the new certificate was published',
        );
        expect(await servedSerials()).toEqual(Object.fromEntries(apps.map((name) => [name, old])));
        // What the operator sees: the store unreached, the VM still healthy (it serves a valid
        // certificate, so the load balancer keeps it), the gauge the alert rule watches at 0.
        for (const name of apps) {
          await waitFor(
            async () => (await certSyncHealth(name)).body.store.reached === false,
            OUTAGE_NOTICE_MS,
            `${name}'s /healthz reporting the store unreached`,
          );
          const health = await certSyncHealth(name);
          expect(health.status).toBe(200);
          expect(health.body.certificates.map((c) => c.installed?.serial)).toEqual([old]);
          expect(await certSyncMetric(name, 'wsfleet_cert_sync_store_reachable')).toBe(0);
        }
      } finally {
        await Promise.all(cuts.map((cut) => cut.restore()));
      }
      if (fresh === undefined) throw new Error('no certificate was published during the outage');
      // Back: every VM installs and serves the certificate it could not fetch, through TLS.
      await servedEverywhere(fresh, OUTAGE_RECOVERY_MS);
      for (const name of apps) {
        await waitFor(
          async () => (await certSyncHealth(name)).body.store.reached === true,
          OUTAGE_RECOVERY_MS,
          `${name}'s /healthz reporting the store reached again`,
        );
        expect(await certSyncMetric(name, 'wsfleet_cert_sync_store_reachable')).toBe(1);
      }
    }, 400_000);

    it('refuses a corrupt version on every app VM, naming it, and keeps serving the last good one', async () => {
      const s = await state();
      const store = await certStore();
      const current = await store.current(s.domain);
      if (current === undefined) throw new Error('no certificate in the store');
      const apps = await appNames();
      const vms = await Promise.all(apps.map(machine));
      const before = await servedSerials();
      expect(Object.values(before)).toEqual(apps.map(() => current.certificate.serial.toLowerCase()));
      const marks = await Promise.all(vms.map(journalMark));
      // The leaf's serial overwritten: it parses, but the CA's signature no longer matches.
      const certificatePem = withRandomSerial(current.certificate.certificatePem);
      const serial = certificateInfo(certificatePem).serial;
      const published = await store.publish(
        { ...current.certificate, certificatePem, serial, issuedAt: new Date().toISOString() },
        current.generation,
      );
      // On each VM, since the mark: that certificate refused, told by its serial, which no other
      // certificate has (a poll logs the generation it downloads, a full sync does not).
      const refusal = async (vm: (typeof vms)[number], mark: JournalMark) =>
        (await linesSince(vm, CERT_SYNC_UNIT, mark)).find(
          (l) =>
            l.msg === 'certificate refused; the last good one stays' &&
            l.name === s.domain &&
            l.serial === serial,
        );
      const refusals = await waitFor(
        async () => {
          const found = await Promise.all(vms.map((vm, i) => refusal(vm, marks[i])));
          if (found.every((line) => line !== undefined)) return found;
          // What each VM logged instead, for the message on a timeout.
          const logged = await Promise.all(
            vms.map(async (vm, i) =>
              (await linesSince(vm, CERT_SYNC_UNIT, marks[i]))
                .map((l) => `${l.msg}${l.serial === undefined ? '' : ` ${String(l.serial)}`}`)
                .join(' | '),
            ),
          );
          throw new Error(vms.map((vm, i) => `${vm.name}: ${logged[i] || 'nothing'}`).join('\n'));
        },
        ROTATION_BOUND_MS,
        `every app VM refusing serial ${serial} (generation ${published.generation})`,
      );
      for (const line of refusals)
        expect(line).toMatchObject({
          code: 'WSFLEET_CERT_REFUSED',
          reason: 'untrusted_chain',
          source: 'store',
        });
      expect(await servedSerials()).toEqual(before);
      for (const name of apps) {
        const health = await certSyncHealth(name);
        expect(health.body.certificates.map((c) => c.lastRefusal?.serial)).toEqual([serial]);
        expect(health.body.certificates.map((c) => c.installed?.serial)).toEqual([
          current.certificate.serial.toLowerCase(),
        ]);
      }
      // A good one afterwards is installed as usual.
      await renewNow();
      const good = await storeSerial();
      await servedEverywhere(good);
    }, 300_000);

    it('makes one order when two renewers race for a new certificate, whichever one the CA reaches', async () => {
      const s = await state();
      const plan = labPlan(LAB, s.subnet);
      const name = `race.${s.domain}`;
      const renewerValues = s.values?.renewer;
      if (renewerValues === undefined) throw new Error('no renewer values in the lab state');
      // Two more renewers on the store, both configured with a name nobody has ordered yet. The
      // load balancer's app VMs send every challenge to the lab's first renewer, which answers
      // the tokens of the other two from the store. At debug level each logs the step a check of
      // the name ended at, also when there was nothing to do.
      const values = { ...renewerValues, certs: [[s.domain], [name]], logLevel: 'debug' as const };
      const dir = labDir(STATE_DIR, LAB);
      const vms = await Promise.all(
        [0, 1].map((i) => bootSpareRenewerVm(plan, dir, s, i, () => undefined, values)),
      );
      try {
        await Promise.all(vms.map((vm) => vm.ready(120_000)));
        // The machines are new: their whole journal is this scenario's.
        const lines = (vm: (typeof vms)[number]) => linesSince(vm.machine, RENEWER_UNIT, undefined);
        // How each renewer's check of the name ended: it issued the certificate, found the lease
        // taken, or found the certificate already there (before or after taking the lease). A
        // failure ends a check too, so that the assertions below say what happened.
        const ending = (log: readonly LogLine[]) =>
          log.flatMap((l) => {
            if (l.name !== name) return [];
            if (l.msg === 'certificate renewed and stored') return ['issued'];
            if (l.msg === 'renewal step' && RACE_LOSSES.has(String(l.step))) return [String(l.step)];
            if (String(l.msg).startsWith('renewal failed')) return [`failed: ${String(l.code)}`];
            return [];
          })[0];
        const endings = await waitFor(
          async () => {
            const found = (await Promise.all(vms.map(lines))).map(ending);
            return found.every((e) => e !== undefined) ? found : undefined;
          },
          180_000,
          `both renewers ending a check of ${name}`,
        );
        // One issued, the other lost the race in one of its ways; anything else is shown as it is.
        expect(endings.map((e) => (RACE_LOSSES.has(e) ? 'lost' : e)).sort()).toEqual(['issued', 'lost']);
        const store = await certStore();
        expect(await store.versionsSince(name, new Date(0).toISOString())).toHaveLength(1);
        // One finalize at the CA: one renewer's ACME client got a certificate for the name.
        const issued = (await Promise.all(vms.map(lines))).filter((log) =>
          log.some(
            (l) => l.msg === 'certificate issued' && Array.isArray(l.domains) && l.domains.includes(name),
          ),
        );
        expect(issued).toHaveLength(1);
      } finally {
        await Promise.all(vms.map((vm) => removeVm(plan, vm.state, vm.machine)));
      }
    }, 400_000);

    it('tells clients epoch_changed when a Redis restart loses the history, and delivers nothing twice or silently skipped', async () => {
      // The lab's Redis runs as the default Memorystore tier does: no persistence, so a restart
      // (maintenance, a failover of Basic) loses every stream.
      const [a, b] = await twoNodes();
      const reader = await follow(a, 'redis-restart');
      followers.push(reader);
      const publishing = publishSteadily(b, 'redis-restart', 120, 'r', 40);
      await waitFor(() => reader.received.length >= 10, 30_000, 'publications before the restart');
      await restartService('redis');
      const acked = await publishing;
      expect(acked.length).toBeGreaterThan(60);
      // The last publications were made well after Redis came back: the reader has them.
      await reader.saw(acked.slice(-10), 60_000);
      const resets = reader.events.filter((e) => e.kind === 'reset');
      expect(resets.map((e) => e.kind === 'reset' && e.reason)).toContain('epoch_changed');
      // Nothing twice.
      expect(new Set(reader.received).size).toBe(reader.received.length);
      // Nothing skipped without a word: each message follows the one before it, or the position
      // a reset announced.
      let expected: number | undefined;
      for (const e of reader.events) {
        if (e.kind === 'message' && expected !== undefined) expect(e.offset, e.data).toBe(expected + 1);
        expected = e.offset;
      }
      // What the reader lacks was acknowledged before the history was lost, never after.
      const firstAfter = reader.events.findIndex((e) => e.kind === 'reset' && e.reason === 'epoch_changed');
      const deliveredAfter = reader.events
        .slice(firstAfter)
        .flatMap((e) => (e.kind === 'message' ? [e.data] : []));
      const firstNew = acked.indexOf(deliveredAfter[0] ?? '');
      expect(firstNew).toBeGreaterThan(-1);
      const missing = acked.filter((d) => !reader.received.includes(d));
      for (const d of missing) expect(acked.indexOf(d), d).toBeLessThan(firstNew);
    });

    it('moves the clients of a killed app VM to another, resuming from their offsets', async () => {
      const byNode = await clientsByNode();
      const [victim, survivor] = [...byNode.keys()];
      const victimClient = byNode.get(victim ?? '')?.[0];
      const survivorClient = byNode.get(survivor ?? '')?.[0];
      if (victim === undefined || victimClient === undefined || survivorClient === undefined)
        throw new Error('clients on two VMs expected');
      const reader = await follow(victimClient, 'crash');
      followers.push(reader);
      const first = await publishSteadily(survivorClient, 'crash', 5, 'before-crash', 0);
      await reader.saw(first);
      // As a crash: PID 1 of the machine killed, taking every process of the VM with it.
      process.kill((await machine(victim)).leader, 'SIGKILL');
      const during = await publishSteadily(survivorClient, 'crash', 20, 'after-crash', 100);
      await reader.saw([...first, ...during], 60_000);
      expect(reader.nodes).toContain(survivor);
      expect(reader.closes.length).toBeGreaterThan(0);
      await waitFor(
        async () => (await lbStates())[victim]?.startsWith('DOWN') === true,
        15_000,
        `${victim} DOWN`,
      );
    });
  });

  describe('rolling update', () => {
    it('replaces the app VMs one by one; every client reconnects and nothing is lost', async () => {
      const readers: Follower[] = [];
      for (const client of [3, 4, 5, 6]) readers.push(await follow(client, 'rollout'));
      followers.push(...readers);
      const publishing = publishSteadily(7, 'rollout', 300, 'u', 100);
      const s = await labRollout(
        { stateDir: STATE_DIR, lab: LAB, timeoutMs: 180_000, step: () => undefined },
        true,
      );
      const acked = await publishing;
      const apps = s.machines.filter((m) => m.role === 'app').map((m) => m.name);
      expect(apps).toHaveLength(2);
      expect(apps).not.toContain('app-1');
      expect(apps).not.toContain('app-2');
      for (const reader of readers) {
        await reader.saw(acked, 60_000);
        // Every reader's VM was replaced: closed with 1012 (or lost with the crashed VM), then back.
        expect(reader.closes.length).toBeGreaterThan(0);
        expect(apps).toContain(reader.nodes.at(-1));
      }
      expect(readers.some((r) => r.closes.includes(1012))).toBe(true);
      expect(Object.values(await lbStates())).toEqual(['UP', 'UP']);
    }, 400_000);
  });

  describe('the demo page', () => {
    let browser: Browser | undefined;
    let home: string | undefined;
    afterAll(async () => {
      await browser?.close().catch(() => undefined);
      if (home !== undefined) await rm(home, { recursive: true, force: true });
    });

    it("loads in headless Chromium through the load balancer over TLS, trusting Pebble's root", async () => {
      const s = await state();
      // Chromium trusts what the user's NSS database trusts: Pebble's root, and nothing else added.
      home = await mkdtemp(join(tmpdir(), 'wsfleet-chromium-'));
      const nss = join(home, '.pki', 'nssdb');
      await mkdir(nss, { recursive: true });
      await writeFile(join(home, 'root.pem'), s.rootPem ?? '');
      await exec('certutil', ['-N', '-d', `sql:${nss}`, '--empty-password']);
      await exec('certutil', [
        '-A',
        '-d',
        `sql:${nss}`,
        '-n',
        'Pebble root',
        '-t',
        'C,,',
        '-i',
        join(home, 'root.pem'),
      ]);
      const f = await forward(8);
      browser = await launchChromium({
        env: { ...process.env, HOME: home },
        args: [`--host-resolver-rules=MAP ${s.domain} 127.0.0.1`],
      });
      const page = await browser.newPage();
      page.setDefaultTimeout(20_000);
      const response = await page.goto(
        `https://${s.domain}:${f.port}/?token=${encodeURIComponent(await token('demo'))}`,
      );
      expect(response?.status()).toBe(200);
      expect(response?.headers()['strict-transport-security']).toContain('max-age=');
      await page.locator('#state[data-state="open"]').waitFor();
      await page.fill('#channel-input', 'demo');
      await page.click('#subscribe-btn');
      await page.locator('#subscriptions li[data-channel="demo"][data-state="live"]').waitFor();
      const [other] = await publishSteadily(9, 'demo', 1, 'hello-from-another-vm', 0);
      await page
        .getByText(other ?? 'none')
        .first()
        .waitFor();
    });

    it('moves to the other VM when its VM is killed, shows that node, and misses no message', async () => {
      const s = await state();
      if (browser === undefined) throw new Error('the browser did not start');
      const f = await forward(8);
      const page = await browser.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(`https://${s.domain}:${f.port}/?token=${encodeURIComponent(await token('demo'))}`);
      await page.locator('#state[data-state="open"]').waitFor();
      const channel = 'demo-crash';
      await page.fill('#channel-input', channel);
      await page.click('#subscribe-btn');
      await page.locator(`#subscriptions li[data-channel="${channel}"][data-state="live"]`).waitFor();
      const victim = (await page.textContent('#node')) ?? '';
      const byNode = await clientsByNode();
      const survivor = [...byNode.keys()].find((node) => node !== victim);
      const publisher = survivor === undefined ? undefined : byNode.get(survivor)?.[0];
      if (survivor === undefined || publisher === undefined) throw new Error('clients on two VMs expected');

      const before = await publishSteadily(publisher, channel, 5, 'before-crash', 0);
      // As a crash: PID 1 of the page's VM killed, taking every process of the VM with it.
      process.kill((await machine(victim)).leader, 'SIGKILL');
      const during = await publishSteadily(publisher, channel, 20, 'after-crash', 100);
      // The page may learn of the crash only from its application ping (two intervals of 25 s), then
      // backs off until the load balancer has marked the VM down.
      await page.locator(`#node:text-is("${survivor}")`).waitFor({ timeout: 150_000 });
      await page.locator('#state[data-state="open"]').waitFor();
      const after = await publishSteadily(publisher, channel, 3, 'back', 0);

      const acked = [...before, ...during, ...after].map((data) => JSON.stringify(data));
      const shown = async () =>
        (await page.locator(`#log li[data-channel="${channel}"] .data`).allTextContents()).reverse();
      await waitFor(
        async () => {
          const all = await shown();
          return acked.every((text) => all.includes(text));
        },
        60_000,
        'every acknowledged message on the page',
      );
      const texts = await shown();
      for (const text of acked) expect(texts).toContain(text);
      const offsets = (
        await page
          .locator(`#log li[data-channel="${channel}"]`)
          .evaluateAll((items) => items.map((item) => Number(item.getAttribute('data-offset'))))
      ).reverse();
      // One entry per offset, consecutive: nothing lost, nothing shown twice.
      expect(offsets).toEqual(offsets.map((_, i) => (offsets[0] ?? 0) + i));
      await page.close();
    }, 300_000);
  });
});
