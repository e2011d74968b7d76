/**
 * The units, the polkit rule and the user-data on a booted Debian 12: each role's VM is a
 * systemd-nspawn machine (no network but its own loopback) built from Debian's packages, given
 * the image's files the way the image build installs them, and booted with a NoCloud seed that
 * holds renderUserData()'s output. cloud-init writes the env files and starts the units; the test
 * then checks what systemd really did: daemons up under their sandbox, settings parsed back
 * exactly, cert-sync testing and reloading nginx through the polkit rule, the renewer serving on
 * the port the socket unit holds, and a clean stop.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, chmod, cp, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppValues, type RenewerValues, renderUserData } from '../../cloud-init/render.ts';
import { BUNDLE } from '../helpers/app.ts';
import { waitFor } from '../helpers/wait.ts';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What the image build installs besides wsfleet's files; procps has /bin/kill (cert-sync's
 * ExecReload).
 */
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'polkitd', 'nginx', 'cloud-init', 'procps'];
const SUITE = 'bookworm';
const BOOT_TIMEOUT_MS = 180_000;

/** Runs a command; rejects with its output when it fails. */
async function sh(file: string, args: readonly string[], timeoutMs = 120_000): Promise<string> {
  try {
    return (await exec(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/**
 * A Debian root file system with PACKAGES, built once per package list and kept in the temporary
 * folder (about 35 s to build, 320 MB).
 */
async function baseRootfs(): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify([SUITE, PACKAGES]))
    .digest('hex')
    .slice(0, 16);
  const dir = join(tmpdir(), 'wsfleet-machines', `rootfs-${key}`);
  try {
    await access(join(dir, 'usr/lib/systemd/systemd'));
    return dir;
  } catch {
    // not built yet
  }
  const building = `${dir}.${process.pid}.tmp`;
  await mkdir(join(tmpdir(), 'wsfleet-machines'), { recursive: true });
  await rm(building, { recursive: true, force: true });
  await sh(
    'mmdebstrap',
    ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, building],
    BOOT_TIMEOUT_MS,
  );
  await rename(building, dir).catch(async (err: unknown) => {
    // Another worker finished first: use its copy.
    await rm(building, { recursive: true, force: true });
    await access(join(dir, 'usr/lib/systemd/systemd')).catch(() => {
      throw err;
    });
  });
  return dir;
}

/** Copies a file into the machine at `path`, with `mode`. */
async function install(machine: string, from: string, path: string, mode = 0o644): Promise<void> {
  await mkdir(join(machine, path, '..'), { recursive: true });
  await cp(from, join(machine, path));
  await chmod(join(machine, path), mode);
}

/** What the image build does with wsfleet's files (the Packer side follows the same list). */
async function installImageFiles(machine: string): Promise<void> {
  const systemd = join(ROOT, 'images/systemd');
  for (const file of await readdir(systemd)) {
    if (/\.(service|socket)$/.test(file))
      await install(machine, join(systemd, file), `etc/systemd/system/${file}`);
  }
  await install(
    machine,
    join(systemd, 'nginx.service.d/wsfleet.conf'),
    'etc/systemd/system/nginx.service.d/wsfleet.conf',
  );
  await install(machine, join(systemd, 'sysusers.d/wsfleet.conf'), 'etc/sysusers.d/wsfleet.conf');
  await install(machine, join(systemd, 'tmpfiles.d/wsfleet.conf'), 'etc/tmpfiles.d/wsfleet.conf');
  await install(
    machine,
    join(ROOT, 'images/polkit/50-wsfleet-cert-sync.rules'),
    'etc/polkit-1/rules.d/50-wsfleet-cert-sync.rules',
  );
  await install(machine, join(ROOT, 'images/app/nginx/nginx.conf'), 'etc/nginx/nginx.conf');
  await cp(join(ROOT, 'images/app/nginx/wsfleet'), join(machine, 'etc/nginx/wsfleet'), { recursive: true });
  // The Node that runs these tests stands in for the image's pinned runtime.
  await install(machine, process.execPath, 'opt/wsfleet/node/bin/node', 0o755);
  await install(machine, BUNDLE, 'opt/wsfleet/wsfleet.js');
  await sh('systemd-sysusers', [`--root=${machine}`]);
  await sh('systemd-tmpfiles', [`--root=${machine}`, '--create', 'wsfleet.conf']);
}

interface Machine {
  readonly dir: string;
  /** Runs a command inside the machine (all its namespaces); resolves with stdout. */
  run(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** Like run(), but resolves with the exit code and output instead of rejecting. */
  attempt(args: readonly string[]): Promise<{ code: number; output: string }>;
  /** GET http://127.0.0.1:<port><path> inside the machine's network; resolves with status and body. */
  get(port: number, path: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

/** Copies the base root, installs the image files and the seed, and boots it. */
async function bootMachine(name: string, userData: string): Promise<Machine> {
  const base = await baseRootfs();
  const dir = join(tmpdir(), 'wsfleet-machines', `${name}-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await sh('cp', ['-a', base, dir]);
  await installImageFiles(dir);
  const seed = join(dir, 'var/lib/cloud/seed/nocloud');
  await mkdir(seed, { recursive: true });
  await writeFile(join(seed, 'meta-data'), `instance-id: ${name}-${process.pid}\nlocal-hostname: ${name}\n`);
  await writeFile(join(seed, 'user-data'), userData);

  const nspawn: ChildProcess = spawn(
    'systemd-nspawn',
    [
      '--register=no',
      '--keep-unit',
      '--private-network',
      '--console=pipe',
      `--machine=${name}`,
      '-D',
      dir,
      '-b',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let nspawnErrors = '';
  nspawn.stderr?.on('data', (chunk: Buffer) => {
    nspawnErrors = (nspawnErrors + String(chunk)).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => nspawn.once('exit', () => resolve()));

  // The machine's PID 1 is the child of nspawn that runs systemd (nspawn forks a short-lived
  // helper first).
  const leader = await waitFor(
    async () => {
      const out = await exec('ps', ['--ppid', String(nspawn.pid), '-o', 'pid=,comm=']).catch(() => ({
        stdout: '',
      }));
      const line = out.stdout.split('\n').find((l) => /\ssystemd$/.test(l));
      return line?.trim().split(/\s+/)[0];
    },
    30_000,
    `the PID 1 of machine ${name} (nspawn said: ${nspawnErrors})`,
  );
  const enter = ['-t', leader, '-m', '-u', '-i', '-n', '-p', '-C', '--'];
  const machine: Machine = {
    dir,
    run: (args, timeoutMs) => sh('nsenter', [...enter, ...args], timeoutMs),
    async attempt(args) {
      try {
        const { stdout, stderr } = await exec('nsenter', [...enter, ...args], { timeout: 60_000 });
        return { code: 0, output: stdout + stderr };
      } catch (err) {
        const e = err as { code?: unknown; stdout?: string; stderr?: string };
        return {
          code: typeof e.code === 'number' ? e.code : -1,
          output: `${e.stdout ?? ''}${e.stderr ?? ''}`,
        };
      }
    },
    async get(port, path) {
      const script = `fetch('http://127.0.0.1:${port}${path}').then(async r => console.log(JSON.stringify({status: r.status, body: await r.text()})))`;
      const out = await sh('nsenter', [`--net=/proc/${leader}/ns/net`, '--', process.execPath, '-e', script]);
      return JSON.parse(out) as { status: number; body: string };
    },
    async stop() {
      nspawn.kill('SIGTERM');
      const timer = setTimeout(() => nspawn.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    // Boot is over once cloud-init's final stage (runcmd: systemctl enable --now) is done.
    await machine.run(['cloud-init', 'status', '--wait'], BOOT_TIMEOUT_MS);
    await machine.run(['systemctl', 'is-system-running', '--wait'], BOOT_TIMEOUT_MS).catch(() => undefined);
  } catch (err) {
    const report = await machine.attempt([
      'sh',
      '-c',
      'cloud-init status --long; systemctl --failed --no-pager; journalctl -b -p warning -n 40 --no-pager',
    ]);
    await machine.stop();
    throw new Error(`machine ${name} did not finish booting:\n${report.output}`, { cause: err });
  }
  return machine;
}

/** `systemctl show` properties of a unit as a record. */
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
  beforeAll(async () => {
    for (const tool of ['systemd-nspawn', 'mmdebstrap', 'nsenter']) {
      await sh('sh', ['-c', `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is missing (Debian packages systemd-container, mmdebstrap, util-linux)`);
      });
    }
  }, 10_000);

  describe('an app VM booted from renderUserData("app", …)', () => {
    let vm: Machine;
    beforeAll(async () => {
      vm = await bootMachine('wsfleet-app-vm', renderUserData('app', APP_VALUES));
    }, BOOT_TIMEOUT_MS * 2);
    afterAll(async () => {
      await vm?.stop();
    }, 60_000);

    it("has root's env files, 0600, exactly as rendered", async () => {
      for (const file of ['/etc/wsfleet/app.env', '/etc/wsfleet/cert-sync.env']) {
        expect(await vm.run(['stat', '-c', '%a %U:%G', file])).toBe('600 root:root\n');
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
      for (const unit of ['wsfleet-nginx-test.service', 'wsfleet-nginx-reload.service']) {
        const log = await vm.run(['journalctl', '--no-pager', '-o', 'cat', '-u', unit]);
        expect(log).toContain('Deactivated successfully');
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
        'wsfleet-renewer.service',
        'wsfleet-renewer.socket',
      ].map((u) => `/etc/systemd/system/${u}`);
      const { code, output } = await vm.attempt(['systemd-analyze', 'verify', '--man=no', ...units]);
      expect({ code, output }).toEqual({ code: 0, output: '' });
    });

    it.each([
      ['wsfleet-app.service', 1.5],
      ['wsfleet-cert-sync.service', 2.0],
      ['wsfleet-renewer.service', 2.0],
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

  describe('a renewer VM booted from renderUserData("renewer", …)', () => {
    let vm: Machine;
    beforeAll(async () => {
      vm = await bootMachine('wsfleet-renewer-vm', renderUserData('renewer', RENEWER_VALUES));
    }, BOOT_TIMEOUT_MS * 2);
    afterAll(async () => {
      await vm?.stop();
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

    it('answers challenge requests on port 80, also across a restart of the daemon', async () => {
      expect((await vm.get(80, '/.well-known/acme-challenge/unknown-token')).status).toBe(404);
      await vm.run(['systemctl', 'restart', 'wsfleet-renewer.service']);
      expect((await vm.get(80, '/.well-known/acme-challenge/unknown-token')).status).toBe(404);
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
