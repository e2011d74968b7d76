import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_REDIS_NETWORKS } from '../../cloud-init/render.ts';
import { appOptions } from '../../daemons/app/config.ts';
import { fetchSecretsOptions } from '../../daemons/app/fetch-secrets-command.ts';
import { CLOSE_GRACE_MS } from '../../daemons/app/main.ts';
import {
  TIMEOUT_MS as REDIS_AUTH_TIMEOUT_MS,
  redisAuthOptions,
} from '../../daemons/app/redis-auth-command.ts';
import { certSyncOptions } from '../../daemons/cert-sync/config.ts';
import { SHUTDOWN_DEADLINE_MS as CERT_SYNC_DEADLINE_MS } from '../../daemons/cert-sync/main.ts';
import { GENERATED_FILE } from '../../daemons/cert-sync/nginx-render.ts';
import { inheritedFd } from '../../daemons/renewer/challenge-server.ts';
import { SHUTDOWN_DEADLINE_MS as RENEWER_DEADLINE_MS } from '../../daemons/renewer/main.ts';
import { parseConfig } from '../../daemons/shared/config.ts';
import { INITIAL_DELAY_SECONDS } from '../../scripts/deploy/plan-groups.ts';
import { showOthers, verifyFindings } from '../helpers/systemd-verify.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SYSTEMD = join(ROOT, 'images/systemd');
const POLKIT_RULE = join(ROOT, 'images/polkit/50-wsfleet-cert-sync.rules');

/** A unit file: section → key → every value assigned, in order (systemd's list semantics). */
type Unit = Map<string, Map<string, string[]>>;

/** Parses systemd's unit syntax as far as these files use it: sections, `key=value`, comments. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1] as string, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === undefined || eq === -1) throw new Error(`Not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The last value of `key` in `section` (what systemd uses for single-valued settings). */
function setting(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/** Every word of a list setting (`ReadWritePaths=a b`, repeated lines add up; empty resets). */
function words(unit: Unit, section: string, key: string): string[] {
  let all: string[] = [];
  for (const value of unit.get(section)?.get(key) ?? []) {
    all = value === '' ? [] : [...all, ...value.split(/\s+/)];
  }
  return all;
}

/** systemd time spans as these units write them: `25s`, `2min`, `500ms`, or plain seconds. */
function seconds(span: string | undefined): number {
  const m = /^(\d+)(ms|s|min)?$/.exec(span ?? '');
  if (!m) throw new Error(`Not a time span: ${span}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'min' ? n * 60 : n;
}

/** `Environment="NAME=value"` lines of [Service] as a record. */
function environment(unit: Unit): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of unit.get('Service')?.get('Environment') ?? []) {
    const text = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    const eq = text.indexOf('=');
    env[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return env;
}

async function loadUnit(name: string): Promise<Unit> {
  return parseUnit(await readFile(join(SYSTEMD, name), 'utf8'));
}

/** The default of option `drainSeconds`, as the app's schema gives it. */
function defaultDrainSeconds(): number {
  return appOptions.drainSeconds.schema.parse(undefined);
}

/** The three daemons and the deadline each keeps on SIGTERM, from the daemons' own code. */
const DAEMONS = [
  {
    unit: 'wsfleet-app.service',
    command: 'app run',
    env: '/etc/wsfleet/app.env',
    deadlineMs: () => defaultDrainSeconds() * 1000 + CLOSE_GRACE_MS,
  },
  {
    unit: 'wsfleet-renewer.service',
    command: 'renewer run',
    env: '/etc/wsfleet/renewer.env',
    deadlineMs: () => RENEWER_DEADLINE_MS,
  },
  {
    unit: 'wsfleet-cert-sync.service',
    command: 'cert-sync run',
    env: '/etc/wsfleet/cert-sync.env',
    deadlineMs: () => CERT_SYNC_DEADLINE_MS,
  },
] as const;

/** Exposure limits of `systemd-analyze security` (0–10, lower is safer). */
const EXPOSURE_LIMIT: Record<string, number> = {
  'wsfleet-app.service': 1.5,
  'wsfleet-app-redis-auth.service': 2.5,
  'wsfleet-app-secrets.service': 2.5,
  'wsfleet-renewer.service': 2.0,
  'wsfleet-cert-sync.service': 2.0,
  'wsfleet-nginx-test.service': 2.0,
  'wsfleet-nginx-reload.service': 2.0,
};

async function serviceFiles(): Promise<string[]> {
  return (await readdir(SYSTEMD)).filter((f) => f.endsWith('.service')).sort();
}

describe('systemd units', () => {
  it('ships exactly the services that have an exposure limit', async () => {
    expect(await serviceFiles()).toEqual(Object.keys(EXPOSURE_LIMIT).sort());
  });

  describe('systemd-analyze security --offline', () => {
    it.each(Object.entries(EXPOSURE_LIMIT))('scores %s at an exposure of at most %s', async (unit, limit) => {
      // --threshold is in tenths; the command fails when the exposure is above it.
      const { stdout } = await run(
        'systemd-analyze',
        ['security', '--offline=true', `--threshold=${Math.round(limit * 10)}`, unit],
        { cwd: SYSTEMD },
      );
      const overall = new RegExp(`Overall exposure level for ${unit}: (\\d+\\.\\d)`).exec(stdout);
      expect(overall, stdout).not.toBeNull();
      expect(Number(overall?.[1])).toBeLessThanOrEqual(limit);
    });
  });

  describe('systemd-analyze verify', () => {
    // verify resolves every unit a file names and checks that each ExecStart= binary exists and
    // is executable. On this machine those are the image's (/opt/wsfleet/node/bin/node) and
    // nginx's: the units are checked in a scratch root holding the system's own units, ours, and
    // an executable stand-in at each command path. That the real binaries run the units is the
    // integration test's part (test/integration/units.test.ts).
    let root: string;
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'wsfleet-units-'));
      await mkdir(join(root, 'usr/lib/systemd'), { recursive: true });
      await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
      const units = join(root, 'etc/systemd/system');
      await mkdir(join(units, 'nginx.service.d'), { recursive: true });
      for (const file of await readdir(SYSTEMD)) {
        if (/\.(service|socket)$/.test(file)) await cp(join(SYSTEMD, file), join(units, file));
      }
      await cp(join(SYSTEMD, 'nginx.service.d/wsfleet.conf'), join(units, 'nginx.service.d/wsfleet.conf'));
      for (const file of await serviceFiles()) {
        const unit = await loadUnit(file);
        const commands = ['ExecStart', 'ExecStartPre', 'ExecReload'].flatMap((k) =>
          words(unit, 'Service', k),
        );
        for (const path of commands.filter((w) => w.startsWith('/'))) {
          if (path.includes('$')) continue;
          await mkdir(join(root, dirname(path)), { recursive: true });
          await writeFile(join(root, path), '#!/bin/sh\n');
          await chmod(join(root, path), 0o755);
        }
      }
    });
    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it.each([
      'wsfleet-app.service',
      'wsfleet-app-redis-auth.service',
      'wsfleet-app-secrets.service',
      'wsfleet-renewer.service',
      'wsfleet-renewer.socket',
      'wsfleet-cert-sync.service',
      'wsfleet-nginx-test.service',
      'wsfleet-nginx-reload.service',
    ])('finds nothing wrong with %s', async (unit) => {
      const { stderr } = await run('systemd-analyze', [
        'verify',
        `--root=${root}`,
        '--man=no',
        `/etc/systemd/system/${unit}`,
      ]);
      const { ours, others } = verifyFindings(stderr);
      showOthers(others);
      expect(ours).toEqual([]);
    });
  });

  describe.each(DAEMONS)('$unit', ({ unit: name, command, env, deadlineMs }) => {
    let unit: Unit;
    beforeAll(async () => {
      unit = await loadUnit(name);
    });

    it('is Type=notify and accepts READY/WATCHDOG from the systemd-notify child (NotifyAccess=all)', () => {
      expect(setting(unit, 'Service', 'Type')).toBe('notify');
      expect(setting(unit, 'Service', 'NotifyAccess')).toBe('all');
    });

    it('has a watchdog the daemon pings at half its period', () => {
      expect(seconds(setting(unit, 'Service', 'WatchdogSec'))).toBeGreaterThanOrEqual(10);
    });

    it('gives the daemon more than its own shutdown deadline before SIGKILL (TimeoutStopSec)', () => {
      expect(seconds(setting(unit, 'Service', 'TimeoutStopSec')) * 1000).toBeGreaterThan(deadlineMs());
      // SIGTERM to the main process only, so a child in flight is not cut short.
      expect(setting(unit, 'Service', 'KillMode')).toBe('mixed');
    });

    it('restarts on failure, within a start limit', () => {
      expect(setting(unit, 'Service', 'Restart')).toBe('on-failure');
      expect(seconds(setting(unit, 'Unit', 'StartLimitIntervalSec'))).toBeGreaterThan(0);
      expect(Number(setting(unit, 'Unit', 'StartLimitBurst'))).toBeGreaterThan(0);
    });

    it(`runs \`wsfleet ${command}\` from the image's Node and bundle, with ${env}`, () => {
      expect(setting(unit, 'Service', 'ExecStart')).toBe(
        `/opt/wsfleet/node/bin/node /opt/wsfleet/wsfleet.js ${command}`,
      );
      expect(words(unit, 'Service', 'EnvironmentFile')[0]).toBe(env);
    });

    it('runs as a user that is not root, with no capability and no way to gain one', () => {
      const dynamic = setting(unit, 'Service', 'DynamicUser') === 'yes';
      const user = setting(unit, 'Service', 'User');
      expect(user).toMatch(/^wsfleet-/);
      expect(dynamic || name === 'wsfleet-cert-sync.service').toBe(true);
      expect(setting(unit, 'Service', 'CapabilityBoundingSet')).toBe('');
      expect(setting(unit, 'Service', 'AmbientCapabilities')).toBe('');
      expect(setting(unit, 'Service', 'NoNewPrivileges')).toBe('yes');
    });

    it('leaves V8 its JIT (no MemoryDenyWriteExecute)', () => {
      expect(setting(unit, 'Service', 'MemoryDenyWriteExecute')).toBeUndefined();
    });

    it('lets a refused system call fail with EPERM rather than kill the daemon', () => {
      expect(setting(unit, 'Service', 'SystemCallErrorNumber')).toBe('EPERM');
      expect(words(unit, 'Service', 'RestrictAddressFamilies').sort()).toEqual([
        'AF_INET',
        'AF_INET6',
        'AF_UNIX',
      ]);
    });

    it('is started at boot once enabled', () => {
      expect(setting(unit, 'Install', 'WantedBy')).toBe('multi-user.target');
    });
  });

  describe('wsfleet-app.service', () => {
    it('may reach exactly the networks the user-data renderer accepts for Redis', async () => {
      const unit = await loadUnit('wsfleet-app.service');
      expect(words(unit, 'Service', 'IPAddressDeny')).toEqual(['any']);
      const allowed = words(unit, 'Service', 'IPAddressAllow').flatMap((w) =>
        w === 'localhost' ? ['127.0.0.0/8', '::1/128'] : [w],
      );
      expect(allowed.sort()).toEqual([...APP_REDIS_NETWORKS].sort());
    });
  });

  // The app VM's boot oneshots: each fetches what the app must not start without.
  describe.each([
    {
      unit: 'wsfleet-app-secrets.service',
      command: 'app fetch-secrets',
      env: '/etc/wsfleet/app-secrets.env',
      out: fetchSecretsOptions.out.schema.parse(undefined),
      retryFor: fetchSecretsOptions.retryFor.schema.parse(undefined),
      // The token, and two versions of each secret during a rotation, at most.
      lastTry: 5 * fetchSecretsOptions.timeout.schema.parse(undefined),
    },
    {
      unit: 'wsfleet-app-redis-auth.service',
      command: 'app redis-auth',
      env: '/etc/wsfleet/app-redis-auth.env',
      out: redisAuthOptions.out.schema.parse(undefined),
      retryFor: redisAuthOptions.retryFor.schema.parse(undefined),
      lastTry: (2 * REDIS_AUTH_TIMEOUT_MS) / 1000,
    },
  ])('$unit', ({ unit: name, command, env, out, retryFor, lastTry }) => {
    let unit: Unit;
    let app: Unit;
    beforeAll(async () => {
      unit = await loadUnit(name);
      app = await loadUnit('wsfleet-app.service');
    });

    it(`runs \`wsfleet ${command}\` once, as root, with ${env}`, () => {
      expect(setting(unit, 'Service', 'Type')).toBe('oneshot');
      expect(setting(unit, 'Service', 'RemainAfterExit')).toBe('yes');
      expect(setting(unit, 'Service', 'User')).toBeUndefined();
      expect(setting(unit, 'Service', 'ExecStart')).toBe(
        `/opt/wsfleet/node/bin/node /opt/wsfleet/wsfleet.js ${command}`,
      );
      expect(words(unit, 'Service', 'EnvironmentFile')).toEqual([env]);
    });

    it('is required by the app once enabled, and finishes before the app starts', () => {
      expect(words(unit, 'Install', 'RequiredBy')).toEqual(['wsfleet-app.service']);
      expect(unit.get('Install')?.get('WantedBy')).toBeUndefined();
      expect(words(unit, 'Unit', 'Before')).toContain('wsfleet-app.service');
      expect(words(app, 'Unit', 'After')).toContain(name);
    });

    it('writes into its runtime folder the file the app reads (optional for the app: the unit may be off)', () => {
      const folder = setting(unit, 'Service', 'RuntimeDirectory');
      expect(dirname(out)).toBe(`/run/${folder}`);
      expect(setting(unit, 'Service', 'RuntimeDirectoryPreserve')).toBe('yes');
      expect(setting(unit, 'Service', 'RuntimeDirectoryMode')).toBe('0700');
      expect(words(app, 'Service', 'EnvironmentFile')).toContain(`-${out}`);
    });

    it('stays failed after a failed fetch (no Restart=), rather than succeed later with the app left down', () => {
      // systemd 252 fails the app's start job ('dependency') at the oneshot's first failure; a
      // restarted oneshot that then succeeds would look healthy while the app never starts
      // (test/integration/units.test.ts saw exactly that).
      expect(setting(unit, 'Service', 'Restart')).toBeUndefined();
    });

    it("lets the command's retries of passing failures end before systemd's timeout, and that before autohealing's delay", () => {
      const timeout = seconds(setting(unit, 'Service', 'TimeoutStartSec'));
      expect(retryFor).toBeGreaterThanOrEqual(60);
      expect(retryFor + lastTry).toBeLessThan(timeout);
      expect(timeout).toBeLessThan(INITIAL_DELAY_SECONDS);
    });
  });

  it("installs every app unit into the app image (roles.sh's globs, and the required ones checked)", async () => {
    // Every element of a bash array, quoted: "${NAME[@]}".
    const all = (name: string) => `"\${${name}[@]}"`;
    const script = [
      `. ${join(ROOT, 'images/provision/roles.sh')}`,
      'load_role app',
      `cd ${SYSTEMD}`,
      'shopt -s nullglob',
      `for p in ${all('ROLE_UNITS')}; do for f in $p; do echo "unit $f"; done; done`,
      `for r in ${all('ROLE_REQUIRED')}; do echo "required $r"; done`,
    ].join('\n');
    const { stdout } = await run('bash', ['-c', script]);
    const lines = stdout.trim().split('\n');
    const appUnits = (await serviceFiles()).filter((f) => f.startsWith('wsfleet-app'));
    for (const unit of appUnits) {
      expect(lines).toContain(`unit ${unit}`);
      expect(lines).toContain(`required ${unit}`);
    }
  });

  describe('wsfleet-renewer.socket', () => {
    it('holds port 80 for the renewer, which takes it as its first inherited socket', async () => {
      const socket = await loadUnit('wsfleet-renewer.socket');
      const service = await loadUnit('wsfleet-renewer.service');
      expect(words(socket, 'Socket', 'ListenStream')).toEqual(['80']);
      expect(setting(socket, 'Socket', 'Accept')).toBe('no');
      // A socket unit runs no process of its own: nothing to sandbox, so `security` scores its
      // service instead.
      expect(socket.get('Service')).toBeUndefined();
      expect(words(service, 'Service', 'Sockets')).toEqual(['wsfleet-renewer.socket']);
      expect(words(service, 'Unit', 'Requires')).toContain('wsfleet-renewer.socket');
      // One socket, so systemd passes LISTEN_FDS=1 and the daemon serves on fd 3.
      expect(inheritedFd({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42)).toBe(3);
    });
  });

  describe('wsfleet-cert-sync.service', () => {
    let unit: Unit;
    beforeAll(async () => {
      unit = await loadUnit('wsfleet-cert-sync.service');
    });

    it('may write only the certificate folder and the folder of the generated nginx file', async () => {
      const config = parseConfig(certSyncOptions, [], {
        WSFLEET_CERT: 'a.example',
        WSFLEET_RENEWER: 'r:80',
      }).config;
      expect(words(unit, 'Service', 'ReadWritePaths').sort()).toEqual(
        [config.dir, config.nginxConfDir].sort(),
      );
      expect(setting(unit, 'Service', 'ProtectSystem')).toBe('strict');
      const tmpfiles = await readFile(join(SYSTEMD, 'tmpfiles.d/wsfleet.conf'), 'utf8');
      for (const dir of [config.dir, config.nginxConfDir]) {
        expect(tmpfiles).toMatch(
          new RegExp(`^d\\s+${dir}\\s+0755\\s+wsfleet-cert-sync\\s+wsfleet-cert-sync\\s`, 'm'),
        );
      }
    });

    it('runs as the fixed user that sysusers.d creates', async () => {
      const sysusers = await readFile(join(SYSTEMD, 'sysusers.d/wsfleet.conf'), 'utf8');
      expect(setting(unit, 'Service', 'DynamicUser')).toBeUndefined();
      expect(setting(unit, 'Service', 'User')).toBe('wsfleet-cert-sync');
      expect(sysusers).toMatch(/^u\s+wsfleet-cert-sync\s/m);
    });

    it('tests and reloads nginx by starting the two root oneshots', () => {
      const { config } = parseConfig(certSyncOptions, [], {
        WSFLEET_CERT: 'a.example',
        WSFLEET_RENEWER: 'r:80',
        ...environment(unit),
      });
      const start = [
        '/usr/bin/env',
        '-u',
        'NOTIFY_SOCKET',
        '/usr/bin/systemctl',
        '--no-ask-password',
        'start',
      ];
      expect(config.nginxTest).toEqual([...start, 'wsfleet-nginx-test.service']);
      expect(config.nginxReload).toEqual([...start, 'wsfleet-nginx-reload.service']);
    });

    it('syncs on `systemctl reload` (SIGHUP)', () => {
      expect(setting(unit, 'Service', 'ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    });
  });

  describe.each(['wsfleet-nginx-test.service', 'wsfleet-nginx-reload.service'])('%s', (name) => {
    let unit: Unit;
    beforeAll(async () => {
      unit = await loadUnit(name);
    });

    it('runs nginx -t with its own pid file before anything else', () => {
      const first = setting(unit, 'Service', name.includes('reload') ? 'ExecStartPre' : 'ExecStart');
      expect(first).toBe(`/usr/sbin/nginx -t -q -g 'pid /run/${name.replace('.service', '')}/nginx.pid;'`);
      expect(setting(unit, 'Service', 'RuntimeDirectory')).toBe(name.replace('.service', ''));
    });

    it('is a oneshot with no start rate limit and a timeout under cert-sync command bound (30 s)', () => {
      expect(setting(unit, 'Service', 'Type')).toBe('oneshot');
      expect(setting(unit, 'Unit', 'StartLimitIntervalSec')).toBe('0');
      expect(seconds(setting(unit, 'Service', 'TimeoutStartSec'))).toBeLessThan(30);
    });

    it('keeps only the capabilities nginx -t needs', () => {
      expect(words(unit, 'Service', 'CapabilityBoundingSet').sort()).toEqual([
        'CAP_DAC_OVERRIDE',
        'CAP_DAC_READ_SEARCH',
        'CAP_NET_BIND_SERVICE',
      ]);
    });

    it('is not enabled at boot (only cert-sync starts it)', () => {
      expect(unit.get('Install')).toBeUndefined();
    });
  });

  it('reloads nginx gracefully, never restarting one that runs', async () => {
    const unit = await loadUnit('wsfleet-nginx-reload.service');
    expect(setting(unit, 'Service', 'ExecStart')).toBe('/usr/bin/systemctl reload-or-restart nginx.service');
  });

  it('skips nginx at boot until cert-sync has written the file nginx.conf includes', async () => {
    const dropIn = parseUnit(await readFile(join(SYSTEMD, 'nginx.service.d/wsfleet.conf'), 'utf8'));
    const { config } = parseConfig(certSyncOptions, [], {
      WSFLEET_CERT: 'a.example',
      WSFLEET_RENEWER: 'r:80',
    });
    expect(setting(dropIn, 'Unit', 'ConditionPathExists')).toBe(join(config.nginxConfDir, GENERATED_FILE));
  });
});

type Verdict = 'yes' | 'no' | 'not_handled';

/** Evaluates the polkit rule file the way polkitd does: it calls polkit.addRule(fn). */
async function polkitDecision(
  user: string,
  actionId: string,
  details: Record<string, string>,
): Promise<Verdict> {
  const rules: Array<(action: unknown, subject: unknown) => unknown> = [];
  const Result = { YES: 'yes', NO: 'no', NOT_HANDLED: 'not_handled' };
  runInNewContext(await readFile(POLKIT_RULE, 'utf8'), {
    polkit: { Result, addRule: (fn: (action: unknown, subject: unknown) => unknown) => rules.push(fn) },
  });
  expect(rules).toHaveLength(1);
  const action = { id: actionId, lookup: (key: string) => details[key] };
  const subject = { user, groups: [user], local: false, active: false };
  return (rules[0] as (a: unknown, s: unknown) => Verdict)(action, subject);
}

describe('images/polkit/50-wsfleet-cert-sync.rules', () => {
  const manage = 'org.freedesktop.systemd1.manage-units';
  it.each<[string, string, string, string, Verdict]>([
    ['wsfleet-cert-sync', manage, 'wsfleet-nginx-test.service', 'start', 'yes'],
    ['wsfleet-cert-sync', manage, 'wsfleet-nginx-reload.service', 'start', 'yes'],
    ['wsfleet-cert-sync', manage, 'wsfleet-nginx-reload.service', 'stop', 'not_handled'],
    ['wsfleet-cert-sync', manage, 'wsfleet-nginx-test.service', 'restart', 'not_handled'],
    ['wsfleet-cert-sync', manage, 'nginx.service', 'reload', 'not_handled'],
    ['wsfleet-cert-sync', manage, 'nginx.service', 'restart', 'not_handled'],
    ['wsfleet-cert-sync', manage, 'wsfleet-app.service', 'start', 'not_handled'],
    [
      'wsfleet-cert-sync',
      'org.freedesktop.systemd1.manage-unit-files',
      'wsfleet-nginx-test.service',
      'start',
      'not_handled',
    ],
    ['wsfleet-app', manage, 'wsfleet-nginx-reload.service', 'start', 'not_handled'],
    ['root', manage, 'wsfleet-nginx-reload.service', 'start', 'not_handled'],
  ])('answers %s asking %s on %s (verb %s) with %s', async (user, action, unit, verb, verdict) => {
    expect(await polkitDecision(user, action, { unit, verb })).toBe(verdict);
  });
});
