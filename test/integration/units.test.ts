/**
 * The units, the polkit rule and the user-data on a booted Debian 12: each role's local image,
 * built by the images wrapper (`wsfleet images build <role> --target local`: mmdebstrap, then
 * the same install.sh and finalize.sh as the GCE image), booted as a systemd-nspawn machine on a
 * network namespace of its own with a NoCloud seed that holds renderUserData()'s output.
 * cloud-init writes the env files and starts the units; the test then checks what systemd really
 * did: daemons up under their sandbox, settings parsed back exactly, cert-sync testing and
 * reloading nginx through the polkit rule, the renewer serving on the port the socket unit holds,
 * and a clean stop.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppValues, type RenewerValues, renderUserData } from '../../cloud-init/render.ts';
import { buildLocalImage, type LocalManifest } from '../../images/build/local-build.ts';
import { findCheckout, imagePaths } from '../../images/build/paths.ts';
import type { Role } from '../../images/build/templates.ts';
import { bootMachine, type Machine as LabMachine, waitBooted } from '../../scripts/lab/machine.ts';
import {
  createLabNetwork,
  createMachineNetwork,
  deleteMachineNetwork,
  deleteNetns,
} from '../../scripts/lab/net.ts';
import { labPlan } from '../../scripts/lab/plan.ts';
import { startService, stopService, waitListening } from '../../scripts/lab/services.ts';
import type { ServiceState } from '../../scripts/lab/state.ts';
import { BUNDLE } from '../helpers/app.ts';
import { showOthers, verifyFindings } from '../helpers/systemd-verify.ts';
import { waitFor } from '../helpers/wait.ts';

const exec = promisify(execFile);
const BOOT_TIMEOUT_MS = 180_000;
/** A first build of both images: two mmdebstrap runs of about 40 s each. */
const BUILD_TIMEOUT_MS = 600_000;

/** Runs a command; rejects with its output when it fails. */
async function sh(file: string, args: readonly string[], timeoutMs = 120_000): Promise<string> {
  try {
    return (await exec(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** The role's local image, as `wsfleet images build <role> --target local` makes it (cached). */
async function localImage(role: Role): Promise<LocalManifest> {
  const paths = imagePaths(findCheckout());
  let output = '';
  try {
    const built = await buildLocalImage(
      { role, bundle: BUNDLE, cacheDir: join(paths.output, 'cache'), outputDir: paths.output },
      { paths, write: (text) => (output += text) },
    );
    return built.manifest;
  } catch (err) {
    throw new Error(`the ${role} image did not build:\n${output}`, { cause: err });
  }
}

interface Machine extends LabMachine {
  /**
   * GET http://127.0.0.1:<port><path> inside the machine's network; resolves with status and
   * body; with `timeoutMs`, status 0 when nothing answers by then (without, sh's bound applies).
   */
  get(port: number, path: string, timeoutMs?: number): Promise<{ status: number; body: string }>;
  /** Powers off and removes the machine's folder. */
  remove(): Promise<void>;
}

/**
 * Boots `image` with `userData` as its NoCloud seed, on a network of its own (the lab's: a
 * namespace with a bridge, the machine's eth0 linked to it), as a VM has one; resolves once
 * cloud-init is done.
 */
/** The lab network of the test's machines: `<services>` is the bridge's own address. */
const PLAN = labPlan(`u${process.pid}`, '10.215.0');

async function bootVm(
  name: string,
  image: LocalManifest,
  userData: string,
  { wait = true }: { wait?: boolean } = {},
): Promise<Machine> {
  const dir = await mkdtemp(join(tmpdir(), `wsfleet-${name}-`));
  const plan = PLAN;
  await createLabNetwork(plan);
  const netns = await createMachineNetwork(plan, name, plan.appAddress(1));
  const removeNetwork = async () => {
    await deleteMachineNetwork(plan, name);
    await deleteNetns(plan.netns);
  };
  const machine = await bootMachine({
    name,
    machineName: `${name}-${process.pid}`,
    rootfs: image.rootfs,
    userData,
    instanceId: `${name}-${randomUUID()}`,
    netns,
    dir,
  }).catch(async (err: unknown) => {
    await removeNetwork();
    throw err;
  });
  const vm: Machine = {
    ...machine,
    async get(port, path, timeoutMs) {
      const signal = timeoutMs === undefined ? '' : `, { signal: AbortSignal.timeout(${timeoutMs}) }`;
      const script = `fetch('http://127.0.0.1:${port}${path}'${signal}).then(async r => console.log(JSON.stringify({status: r.status, body: await r.text()})), () => console.log(JSON.stringify({status: 0, body: ''})))`;
      const out = await sh('nsenter', [
        `--net=/proc/${machine.leader}/ns/net`,
        '--',
        process.execPath,
        '-e',
        script,
      ]);
      return JSON.parse(out) as { status: number; body: string };
    },
    async remove() {
      await machine.stop();
      await removeNetwork();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    if (wait) await waitBooted(machine, BOOT_TIMEOUT_MS);
  } catch (err) {
    await vm.remove();
    throw err;
  }
  return vm;
}

/** `systemctl show` properties of a unit as a record. */
/** systemd's catalog id of "Unit succeeded" (SD_MESSAGE_UNIT_SUCCESS). */
const UNIT_SUCCEEDED = '7ad2d189f7e94e70a38c781354912448';

async function show(machine: Machine, unit: string, ...props: string[]): Promise<Record<string, string>> {
  const out = await machine.run(['systemctl', 'show', unit, ...props.map((p) => `--property=${p}`)]);
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** The environment a unit's main process really has (read from /proc inside the machine). */
async function mainEnvironment(machine: Machine, unit: string): Promise<Record<string, string>> {
  const { MainPID } = await show(machine, unit, 'MainPID');
  const raw = await machine.run(['cat', `/proc/${MainPID}/environ`]);
  return Object.fromEntries(
    raw
      .split('\0')
      .filter((e) => e !== '')
      .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
}

/** Fields of /proc/<main pid>/status: the sandbox as the kernel applies it. */
async function mainStatus(machine: Machine, unit: string): Promise<Record<string, string>> {
  const { MainPID } = await show(machine, unit, 'MainPID');
  const raw = await machine.run(['cat', `/proc/${MainPID}/status`]);
  return Object.fromEntries(
    raw
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

/** Printable ASCII, every special character of env files and shells included. */
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

const APP_VALUES: AppValues = {
  certs: [['ws.example.test', 'www.example.test']],
  store: 'gs://wsfleet-test-certs/lab',
  // Nothing listens there: the store is unreachable, which cert-sync must survive.
  gcsEndpoint: 'http://127.0.0.1:9',
  renewer: '10.0.0.5:80',
  nodeName: "node 1 'é' $HOST",
  apiKey: `  ${PRINTABLE}  `,
  tokenSecret: `"quoted" \\back\\ $dollar \`tick\` 漢字😀 ${'x'.repeat(32)}`,
  logLevel: 'debug',
};

const RENEWER_VALUES: RenewerValues = {
  certs: [['ws.example.test']],
  store: 'gs://wsfleet-test-certs/lab',
  gcsEndpoint: 'http://127.0.0.1:9',
  email: 'ops+acme@example.test',
  directoryUrl: 'http://127.0.0.1:14000/dir',
  logLevel: 'debug',
};

describe('units on a booted machine', () => {
  const images: Partial<Record<Role, LocalManifest>> = {};
  beforeAll(async () => {
    for (const tool of ['systemd-nspawn', 'mmdebstrap', 'nsenter']) {
      await sh('sh', ['-c', `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is missing (Debian packages systemd-container, mmdebstrap, util-linux)`);
      });
    }
    images.app = await localImage('app');
    images.renewer = await localImage('renewer');
  }, BUILD_TIMEOUT_MS);

  describe('an app VM booted from renderUserData("app", …)', () => {
    let vm: Machine;
    beforeAll(async () => {
      vm = await bootVm('wsfleet-app-vm', images.app as LocalManifest, renderUserData('app', APP_VALUES));
    }, BOOT_TIMEOUT_MS * 2);
    afterAll(async () => {
      await vm?.remove();
    }, 60_000);

    it("carries the pinned Node, the bundle and Let's Encrypt's staging roots, as install.sh put them", async () => {
      const pin = images.app?.nodeVersion;
      expect(await vm.run(['/opt/wsfleet/node/bin/node', '--version'])).toBe(`v${pin}`);
      expect(await vm.run(['/usr/local/bin/wsfleet', '--help'])).toContain('cert-sync run');
      expect(await vm.run(['stat', '-c', '%a %U', '/opt/wsfleet/wsfleet.js'])).toBe('644 root');
      // cert-sync --staging looks for them beside the bundle.
      expect(await vm.run(['stat', '-c', '%a %U', '/opt/wsfleet/letsencrypt-staging-roots.pem'])).toBe(
        '644 root',
      );
    });

    it("has root's env files, 0600, exactly as rendered", async () => {
      for (const file of ['/etc/wsfleet/app.env', '/etc/wsfleet/cert-sync.env']) {
        expect(await vm.run(['stat', '-c', '%a %U:%G', file])).toBe('600 root:root');
      }
    });

    it('runs the app and cert-sync, enabled for the next boot', async () => {
      for (const unit of ['wsfleet-app.service', 'wsfleet-cert-sync.service']) {
        const state = await show(vm, unit, 'ActiveState', 'UnitFileState', 'NRestarts', 'StatusErrno');
        expect(state).toEqual({
          ActiveState: 'active',
          UnitFileState: 'enabled',
          NRestarts: '0',
          StatusErrno: '0',
        });
      }
    });

    it('hands the daemon every value exactly as given (systemd parsed the env file)', async () => {
      const env = await mainEnvironment(vm, 'wsfleet-app.service');
      expect(env.WSFLEET_API_KEY).toBe(APP_VALUES.apiKey);
      expect(env.WSFLEET_TOKEN_SECRET).toBe(APP_VALUES.tokenSecret);
      expect(env.WSFLEET_NODE_NAME).toBe(APP_VALUES.nodeName);
      const sync = await mainEnvironment(vm, 'wsfleet-cert-sync.service');
      expect(sync.WSFLEET_CERT).toBe('ws.example.test,www.example.test');
      expect(sync.WSFLEET_RENEWER).toBe(APP_VALUES.renewer);
    });

    it('runs the daemons unprivileged, without capabilities, under a system call filter', async () => {
      for (const unit of ['wsfleet-app.service', 'wsfleet-cert-sync.service']) {
        const status = await mainStatus(vm, unit);
        expect(status.Uid?.split(/\s+/)[0]).not.toBe('0');
        expect(status.CapBnd).toBe('0000000000000000');
        expect(status.CapEff).toBe('0000000000000000');
        expect(status.NoNewPrivs).toBe('1');
        expect(status.Seccomp).toBe('2');
      }
    });

    it('started nginx through cert-sync: polkit let it start the nginx -t and reload oneshots', async () => {
      expect((await show(vm, 'nginx.service', 'ActiveState')).ActiveState).toBe('active');
      // Each oneshot ran and succeeded: the journal's "Unit succeeded" entry, found by its catalog
      // message id rather than its wording (the unit itself may be unloaded by now).
      for (const unit of ['wsfleet-nginx-test.service', 'wsfleet-nginx-reload.service']) {
        // systemd's own entry about the unit: UNIT= names it (both matches must hold).
        const log = await vm.run([
          'journalctl',
          '--no-pager',
          '-o',
          'cat',
          `UNIT=${unit}`,
          `MESSAGE_ID=${UNIT_SUCCEEDED}`,
        ]);
        expect(log.trim()).not.toBe('');
      }
      // HTTP-only until a certificate is installed: challenges forwarded, the rest explains itself.
      const answer = await vm.get(80, '/');
      expect(answer.status).toBe(503);
      expect(answer.body).toContain('no certificate yet');
    });

    it('syncs again on `systemctl reload wsfleet-cert-sync` (SIGHUP)', async () => {
      const before = await show(vm, 'wsfleet-cert-sync.service', 'MainPID');
      await vm.run(['systemctl', 'reload', 'wsfleet-cert-sync.service']);
      await waitFor(
        async () =>
          (
            await vm.run(['journalctl', '--no-pager', '-o', 'cat', '-u', 'wsfleet-cert-sync.service'])
          ).includes('SIGHUP: syncing now'),
        10_000,
        'the SIGHUP sync',
      );
      expect(await show(vm, 'wsfleet-cert-sync.service', 'MainPID')).toEqual(before);
    });

    it('lets the cert-sync user start the two oneshots and nothing else', async () => {
      const as = ['runuser', '-u', 'wsfleet-cert-sync', '--', 'systemctl', '--no-ask-password'];
      expect((await vm.attempt([...as, 'start', 'wsfleet-nginx-test.service'])).code).toBe(0);
      for (const denied of [
        ['restart', 'nginx.service'],
        ['stop', 'nginx.service'],
        ['reload', 'nginx.service'],
        ['stop', 'wsfleet-app.service'],
      ]) {
        const { code, output } = await vm.attempt([...as, ...denied]);
        expect(code, denied.join(' ')).not.toBe(0);
        expect(output).toMatch(/Access denied|Interactive authentication required/);
      }
      expect((await show(vm, 'nginx.service', 'ActiveState')).ActiveState).toBe('active');
    });

    it('passes systemd-analyze verify with the real binaries in place', async () => {
      const units = [
        'wsfleet-app.service',
        'wsfleet-cert-sync.service',
        'wsfleet-nginx-test.service',
        'wsfleet-nginx-reload.service',
      ].map((u) => `/etc/systemd/system/${u}`);
      const { code, output } = await vm.attempt(['systemd-analyze', 'verify', '--man=no', ...units]);
      const { ours, others } = verifyFindings(output);
      showOthers(others);
      expect({ code, ours }).toEqual({ code: 0, ours: [] });
    });

    it.each([
      ['wsfleet-app.service', 1.5],
      ['wsfleet-cert-sync.service', 2.0],
      ['wsfleet-nginx-test.service', 2.0],
      ['wsfleet-nginx-reload.service', 2.0],
    ])('scores %s at most %s under the running systemd (systemd-analyze security)', async (unit, limit) => {
      const out = await vm.run([
        'systemd-analyze',
        'security',
        `--threshold=${Math.round(limit * 10)}`,
        unit,
      ]);
      expect(Number(/Overall exposure level for \S+: (\d+\.\d)/.exec(out)?.[1])).toBeLessThanOrEqual(limit);
    });

    it('drains and stops the app on `systemctl stop` with exit 0, well within TimeoutStopSec', async () => {
      const started = Date.now();
      await vm.run(['systemctl', 'stop', 'wsfleet-app.service']);
      expect(Date.now() - started).toBeLessThan(25_000);
      expect(await show(vm, 'wsfleet-app.service', 'ActiveState', 'Result', 'ExecMainStatus')).toEqual({
        ActiveState: 'inactive',
        Result: 'success',
        ExecMainStatus: '0',
      });
      const last = (
        await vm.run(['journalctl', '--no-pager', '-o', 'cat', '-u', 'wsfleet-app.service', '-n', '3'])
      )
        .split('\n')
        .find((l) => l.startsWith('{"') && l.includes('"stopped"'));
      expect(JSON.parse(last ?? '{}')).toMatchObject({ msg: 'stopped', exitCode: 0 });
    });
  });

  describe("an app VM that reads its secrets from Secret Manager at boot (the deploy's user-data)", () => {
    const secrets = { token: `lab-token-${'t'.repeat(40)}`, key: `lab-key-${'k'.repeat(40)}` };
    let vm: Machine | undefined;
    let double: ServiceState | undefined;
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'wsfleet-secrets-vm-'));
      await mkdir(join(dir, 'secrets', 'wsfleet-test'), { recursive: true });
      // The metadata server and Secret Manager, on the machines' network only (the lab's bridge).
      await createLabNetwork(PLAN);
      double = startService(
        PLAN,
        [
          process.execPath,
          BUNDLE,
          'lab',
          'google-double',
          '--host',
          PLAN.services,
          '--port',
          '8089',
          '--secrets-dir',
          join(dir, 'secrets'),
        ],
        join(dir, 'google-double.log'),
      );
      await waitListening('google-double', double, PLAN.services, 8089);
      const values: AppValues = {
        certs: [['ws.example.test']],
        store: 'gs://wsfleet-test-certs',
        gcsEndpoint: 'http://127.0.0.1:9',
        renewer: '10.0.0.5:80',
        tokenSecretFrom: 'gcp:wsfleet-test/wsfleet-token-secret',
        apiKeyFrom: 'gcp:wsfleet-test/wsfleet-api-key',
        metadataUrl: `http://${PLAN.services}:8089`,
        secretManagerUrl: `http://${PLAN.services}:8089`,
      };
      // Not waited for: its boot cannot finish while the secrets are missing.
      vm = await bootVm('wsfleet-secrets-vm', images.app as LocalManifest, renderUserData('app', values), {
        wait: false,
      });
    }, BOOT_TIMEOUT_MS * 2);
    afterAll(async () => {
      await vm?.remove();
      if (double !== undefined) await stopService(double);
      await rm(dir, { recursive: true, force: true });
    }, 60_000);

    const journal = (unit: string) =>
      (vm as Machine).run(['journalctl', '--no-pager', '-o', 'cat', '-u', unit]);

    it(
      "does not start the app when the secrets cannot be read: the fetch fails, and so does the app's start",
      async () => {
        const m = vm as Machine;
        await waitFor(
          async () =>
            (await journal('wsfleet-app-secrets.service').catch(() => '')).includes(
              'WSFLEET_SECRET_UNAVAILABLE',
            ),
          BOOT_TIMEOUT_MS,
          'a failed fetch of the secrets',
        );
        expect(await journal('wsfleet-app-secrets.service')).toContain(
          'cannot read gcp:wsfleet-test/wsfleet-token-secret@latest: Secret Manager answered HTTP 404 NOT_FOUND',
        );
        await waitFor(
          async () => (await show(m, 'wsfleet-app-secrets.service', 'ActiveState')).ActiveState === 'failed',
          BOOT_TIMEOUT_MS,
          'the fetch to be failed',
          500,
        );
        const app = await show(
          m,
          'wsfleet-app.service',
          'ActiveState',
          'ExecMainStartTimestampMonotonic',
          'Requires',
        );
        expect(app.ActiveState).not.toBe('active');
        // The app's process never started: no moment where it ran open to anyone.
        expect(app.ExecMainStartTimestampMonotonic).toBe('0');
        expect(app.Requires?.split(' ')).toContain('wsfleet-app-secrets.service');
        expect(await journal('wsfleet-app.service')).toContain("failed with result 'dependency'");
        expect((await m.attempt(['ss', '-Htln', 'sport = :8080'])).output.trim()).toBe('');
        // It stays so: a failed fetch is not retried behind the operator's back.
        expect(
          (await m.attempt(['systemctl', 'is-failed', 'wsfleet-app-secrets.service'])).output.trim(),
        ).toBe('failed');
      },
      BOOT_TIMEOUT_MS * 2,
    );

    it(
      'starts the app with exactly the secrets once they can be read and the app is started again',
      async () => {
        const m = vm as Machine;
        await writeFile(join(dir, 'secrets/wsfleet-test/wsfleet-token-secret'), secrets.token);
        await writeFile(join(dir, 'secrets/wsfleet-test/wsfleet-api-key'), secrets.key);
        // What the README tells the operator to do (autohealing's new VM does the same at its boot).
        await m.run(['systemctl', 'start', 'wsfleet-app.service'], 120_000);
        expect((await show(m, 'wsfleet-app.service', 'ActiveState')).ActiveState).toBe('active');
        expect((await show(m, 'wsfleet-app-secrets.service', 'ActiveState')).ActiveState).toBe('active');
        const env = await mainEnvironment(m, 'wsfleet-app.service');
        expect(env.WSFLEET_TOKEN_SECRET).toBe(secrets.token);
        expect(env.WSFLEET_API_KEY).toBe(secrets.key);
        expect(await m.run(['stat', '-c', '%a %U:%G', '/run/wsfleet/app-secrets.env'])).toBe('600 root:root');
        // The VM's own files hold the secrets' names, the journal no value.
        const settings = await m.run(['cat', '/etc/wsfleet/app-secrets.env']);
        expect(settings).toContain('WSFLEET_TOKEN_SECRET_FROM="gcp:wsfleet-test/wsfleet-token-secret"');
        const everything = await m.run([
          'sh',
          '-c',
          'cat /etc/wsfleet/*.env /var/lib/cloud/instance/user-data.txt; journalctl -b --no-pager -o cat',
        ]);
        expect(everything).not.toContain(secrets.token);
        expect(everything).not.toContain(secrets.key);
      },
      BOOT_TIMEOUT_MS * 2,
    );

    it('is closed: a WebSocket without a token and a publish without the API key are refused', async () => {
      const m = vm as Machine;
      const script = [
        "const http = require('node:http');",
        "const r = http.request({ host: '127.0.0.1', port: 8080, path: '/ws', headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' } });",
        "r.on('response', async (res) => { const p = await fetch('http://127.0.0.1:8080/api/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{\"channel\":\"c\",\"data\":1}' }); console.log(JSON.stringify({ ws: res.statusCode, publish: p.status })); });",
        "r.on('upgrade', () => { console.log(JSON.stringify({ ws: 101 })); process.exit(0); });",
        'r.end();',
      ].join('\n');
      const out = await sh('nsenter', [
        `--net=/proc/${m.leader}/ns/net`,
        '--',
        process.execPath,
        '-e',
        script,
      ]);
      expect(JSON.parse(out)).toEqual({ ws: 401, publish: 401 });
    });
  });

  describe('a renewer VM booted from renderUserData("renewer", …)', () => {
    let vm: Machine;
    beforeAll(async () => {
      vm = await bootVm(
        'wsfleet-renewer-vm',
        images.renewer as LocalManifest,
        renderUserData('renewer', RENEWER_VALUES),
      );
    }, BOOT_TIMEOUT_MS * 2);
    afterAll(async () => {
      await vm?.remove();
    }, 60_000);

    it('runs the renewer on the socket unit that holds port 80, both enabled', async () => {
      for (const unit of ['wsfleet-renewer.socket', 'wsfleet-renewer.service']) {
        expect(await show(vm, unit, 'ActiveState', 'UnitFileState')).toEqual({
          ActiveState: 'active',
          UnitFileState: 'enabled',
        });
      }
      const env = await mainEnvironment(vm, 'wsfleet-renewer.service');
      expect(env.LISTEN_FDS).toBe('1');
      expect(env.WSFLEET_EMAIL).toBe(RENEWER_VALUES.email);
      const status = await mainStatus(vm, 'wsfleet-renewer.service');
      expect(status.CapEff).toBe('0000000000000000');
      expect(status.Uid?.split(/\s+/)[0]).not.toBe('0');
    });

    it('carries no nginx: the renewer image is its own', async () => {
      expect((await vm.attempt(['sh', '-c', 'command -v nginx'])).code).not.toBe(0);
      expect((await vm.attempt(['test', '-e', '/etc/systemd/system/wsfleet-app.service'])).code).not.toBe(0);
    });

    it('passes systemd-analyze verify, and scores the renewer at most 2.0 (systemd-analyze security)', async () => {
      const units = ['wsfleet-renewer.service', 'wsfleet-renewer.socket'].map(
        (u) => `/etc/systemd/system/${u}`,
      );
      const verify = await vm.attempt(['systemd-analyze', 'verify', '--man=no', ...units]);
      const { ours, others } = verifyFindings(verify.output);
      showOthers(others);
      expect({ code: verify.code, ours }).toEqual({ code: 0, ours: [] });
      const out = await vm.run(['systemd-analyze', 'security', '--threshold=20', 'wsfleet-renewer.service']);
      expect(Number(/Overall exposure level for \S+: (\d+\.\d)/.exec(out)?.[1])).toBeLessThanOrEqual(2.0);
    });

    it('answers challenge requests on port 80, also across a restart of the daemon', async () => {
      expect((await vm.get(80, '/.well-known/acme-challenge/unknown-token')).status).toBe(404);
      await vm.run(['systemctl', 'restart', 'wsfleet-renewer.service']);
      expect((await vm.get(80, '/.well-known/acme-challenge/unknown-token')).status).toBe(404);
    });

    it('answers /livez on port 80 from the daemon: a hung daemon fails it while the socket still accepts', async () => {
      expect(await vm.get(80, '/livez')).toEqual({ status: 200, body: 'ok\n' });
      await vm.run(['systemctl', 'kill', '--signal=SIGSTOP', 'wsfleet-renewer.service']);
      try {
        // Within the 5 s the deploy's health check waits, nothing answers.
        expect((await vm.get(80, '/livez', 5_000)).status).toBe(0);
      } finally {
        await vm.run(['systemctl', 'kill', '--signal=SIGCONT', 'wsfleet-renewer.service']);
      }
      expect((await vm.get(80, '/livez')).status).toBe(200);
    });

    it('stops with exit 0 on `systemctl stop`', async () => {
      await vm.run(['systemctl', 'stop', 'wsfleet-renewer.service']);
      expect(await show(vm, 'wsfleet-renewer.service', 'Result', 'ExecMainStatus')).toEqual({
        Result: 'success',
        ExecMainStatus: '0',
      });
    });
  });
});
