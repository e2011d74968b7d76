/**
 * The renewer as it runs: the real entry point spawned with flags, Pebble as the CA, and the
 * `renew` and `status` commands talking to it or working without it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createChallengeServer } from '../../daemons/renewer/challenge-server.ts';
import { renewerOptions } from '../../daemons/renewer/config.ts';
import { assembleRenewer } from '../../daemons/renewer/daemon.ts';
import { createRenewerMetrics } from '../../daemons/renewer/metrics.ts';
import { parseConfig } from '../../daemons/shared/config.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { createCertStore, createFileStore } from '../../daemons/shared/store/index.ts';
import { BUNDLE, type DaemonProcess, spawnCli } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { type Pebble, startPebble, trustAgent } from '../helpers/pebble.ts';
import { waitFor } from '../helpers/wait.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('wsfleet renewer (the real entry point)', () => {
  let pebble: Pebble;
  let httpPort: number;
  let dir: string;
  let n = 0;
  const daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort });
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-renewer-cli-'));
  });

  afterEach(async () => {
    await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
  });

  afterAll(async () => {
    await pebble?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function setup() {
    const id = n++;
    const storePath = join(dir, `store-${id}`);
    const env: Record<string, string> = {
      NODE_EXTRA_CA_CERTS: pebble.caFile,
      WSFLEET_STORE: `file://${storePath}`,
      WSFLEET_DIRECTORY_URL: pebble.directoryUrl,
      WSFLEET_HTTP_HOST: '127.0.0.1',
      WSFLEET_HTTP_PORT: String(httpPort),
      WSFLEET_SELF_CHECK_PORT: String(httpPort),
      WSFLEET_DNS_SERVER: pebble.dnsServer,
      WSFLEET_METRICS_PORT: '0',
      WSFLEET_CONTROL_SOCKET: join(dir, `control-${id}.sock`),
      WSFLEET_LEASE_SECONDS: '5',
    };
    return { env, store: createCertStore(createFileStore(storePath)) };
  }

  async function cli(args: string[], env: Record<string, string>) {
    const p = spawnCli(args, env);
    daemons.push(p);
    const { code } = await p.exited;
    return { code, stdout: p.stdout.join('\n'), stderr: p.stderr.join('') };
  }

  it('issues at start, renews on request through the control socket, and reports status', async () => {
    const { env, store } = setup();
    const daemon = spawnCli(['renewer', 'run', '--cert', 'cli.test,www.cli.test'], env);
    daemons.push(daemon);
    const first = await waitFor(() => store.current('cli.test'), 30_000, 'the first certificate');
    await waitFor(
      () => daemon.logs().some((l) => l.msg === 'certificate renewed and stored'),
      5_000,
      'the log line',
    );

    const renew = await cli(['renewer', 'renew', 'cli.test', '--force'], env);
    expect(renew.code).toBe(0);
    expect(renew.stdout).not.toContain('renewing directly');
    expect(renew.stdout).toMatch(/cli\.test: self_check domain=www\.cli\.test/);
    expect(renew.stdout).toMatch(/cli\.test: renewed, serial [0-9a-f]+/);
    const second = await store.current('cli.test');
    expect(second?.certificate.serial).not.toBe(first.certificate.serial);

    const status = await cli(['renewer', 'status', '--json'], env);
    expect(status.code).toBe(0);
    const [entry] = JSON.parse(status.stdout) as { name: string; serial: string; domains: string[] }[];
    expect(entry).toMatchObject({
      name: 'cli.test',
      serial: second?.certificate.serial,
      domains: ['cli.test', 'www.cli.test'],
    });
    expect(JSON.stringify(status.stdout)).not.toContain('PRIVATE KEY');

    const unknown = await cli(['renewer', 'renew', 'other.test'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr + unknown.stdout).toContain('not configured on the running renewer: other.test');
    expect(daemon.stdout.join('\n')).not.toContain('PRIVATE KEY');

    expect((await daemon.stop()).code).toBe(0);
  });

  it('renews by itself when no daemon runs, and exits non-zero when it cannot', async () => {
    const { env, store } = setup();
    const ok = await cli(['renewer', 'renew', 'alone.test'], env);
    expect(ok.stdout).toContain('No renewer daemon is running here');
    expect(ok.code).toBe(0);
    expect((await store.current('alone.test'))?.certificate.domains).toEqual(['alone.test']);

    const dry = await cli(['renewer', 'renew', 'alone.test', '--dry-run', '--force'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run: every check passed');

    const wildcard = await cli(['renewer', 'renew', '*.alone.test'], env);
    expect(wildcard.code).toBe(78);
    expect(wildcard.stderr).toContain('wildcards need DNS-01');
  });

  it('refuses the third forced renewal in 7 days with exit 75, also through a daemon started afterwards', async () => {
    const { env, store } = setup();
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await cli(['renewer', 'renew', 'guard.test', '--force'], env));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 75]);
    const third = runs[2]?.stdout ?? '';
    expect(third).toMatch(
      /guard\.test: REFUSED by the rate guard \(WSFLEET_RATE_GUARD\): guard\.test already got 2 certificates in the last 7 days \(the limit for its lifetime\); the next is allowed at \d{4}-\d\d-\d\dT/,
    );
    expect(third).toContain('--ignore-rate-guard overrides it');
    const serial = (await store.current('guard.test'))?.certificate.serial;

    // The state lives in the store: a daemon started now refuses as well.
    const daemon = spawnCli(['renewer', 'run', '--cert', 'guard.test'], env);
    daemons.push(daemon);
    await waitFor(
      () => daemon.logs().some((l) => l.msg === 'control socket listening'),
      10_000,
      'the control socket',
    );
    const viaDaemon = await cli(['renewer', 'renew', 'guard.test', '--force'], env);
    expect(viaDaemon.stdout).not.toContain('renewing directly');
    expect(viaDaemon.code).toBe(75);
    expect(viaDaemon.stdout).toContain('REFUSED by the rate guard');
    expect((await store.current('guard.test'))?.certificate.serial).toBe(serial);
    expect((await store.state('guard.test'))?.finalizedAt).toHaveLength(2);

    const ignored = await cli(['renewer', 'renew', 'guard.test', '--force', '--ignore-rate-guard'], env);
    expect(ignored.code).toBe(0);
    expect((await store.current('guard.test'))?.certificate.serial).not.toBe(serial);
    expect((await daemon.stop()).code).toBe(0);
  });

  it('trusts the ACME directory through --directory-ca alone, and refuses a file without a certificate', async () => {
    const { env, store } = setup();
    const { NODE_EXTRA_CA_CERTS: _extra, ...rest } = env;
    const ok = await cli(['renewer', 'renew', 'private-ca.test', '--directory-ca', pebble.caFile], rest);
    expect(ok.code).toBe(0);
    expect((await store.current('private-ca.test'))?.certificate.domains).toEqual(['private-ca.test']);

    // Without it, the directory's certificate is not trusted.
    const untrusted = await cli(['renewer', 'renew', 'untrusted.test'], rest);
    expect(untrusted.code).not.toBe(0);
    expect(await store.current('untrusted.test')).toBeUndefined();

    const empty = join(dir, 'empty.pem');
    await writeFile(empty, 'not a certificate\n');
    const bad = await cli(['renewer', 'renew', 'x.test', '--directory-ca', empty], rest);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain(`\`--directory-ca\` ${empty} holds no PEM certificate`);
  });

  it('answers /livez on the challenge port itself: 200 while it runs, nothing once dead although the socket still accepts', async () => {
    const { env } = setup();
    // python3 stands in for systemd's socket unit: it binds the port and keeps it, and starts the
    // daemon with the socket at fd 3 (LISTEN_FDS, LISTEN_PID), as wsfleet-renewer.socket does.
    const holder = spawn(
      'python3',
      [
        '-c',
        `
import os, signal, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(16)
pid = os.fork()
if pid == 0:
    os.dup2(s.fileno(), 3)
    os.set_inheritable(3, True)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.execv(sys.argv[1], sys.argv[1:])
print(s.getsockname()[1], pid, flush=True)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
# Reaps the daemon when it dies, as systemd does, so that its pid is gone.
signal.signal(signal.SIGCHLD, lambda *_: os.waitpid(-1, os.WNOHANG))
while True:
    signal.pause()
`,
        process.execPath,
        BUNDLE,
        'renewer',
        'run',
        '--cert',
        'live.test',
      ],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let daemonPid: number | undefined;
    try {
      const [first] = (await Promise.race([
        once(createInterface({ input: holder.stdout as NodeJS.ReadableStream }), 'line'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no socket within 10 s')), 10_000)),
      ])) as [string];
      const [port, pid] = first.split(' ').map(Number) as [number, number];
      daemonPid = pid;
      const livez = async (timeoutMs: number) => {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/livez`, {
            signal: AbortSignal.timeout(timeoutMs),
          });
          return res.status;
        } catch {
          return 'no answer';
        }
      };
      await waitFor(async () => (await livez(2_000)) === 200, 15_000, '/livez to answer 200');
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);

      process.kill(pid, 'SIGKILL');
      await waitFor(() => !isAlive(pid), 5_000, 'the daemon to be gone');
      // A TCP check still passes: the kernel accepts on the socket its holder keeps open ...
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.destroy();
      // ... but nothing answers /livez within the health check's 5 s timeout.
      expect(await livez(5_000)).toBe('no answer');
    } finally {
      if (daemonPid !== undefined && isAlive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
      if (holder.exitCode === null) {
        const exited = once(holder, 'exit');
        holder.kill('SIGKILL');
        await exited;
      }
    }
  });

  it('finishes the work of a renewer killed mid-order once its lease expires', async () => {
    const { env, store } = setup();
    const victim = spawnCli(['renewer', 'run', '--cert', 'killed.test', '--log-level', 'debug'], env);
    daemons.push(victim);
    await waitFor(
      () =>
        victim
          .logs()
          .some((l) => l.msg === 'renewal step' && (l.step === 'self_check' || l.step === 'order')),
      20_000,
      'the victim to hold the lease',
    );
    await victim.stop('SIGKILL');
    expect(await store.current('killed.test')).toBeUndefined();

    const log = createLogger({
      name: 'test',
      level: 'silent',
      destination: new Writable({ write: (_c, _e, cb) => cb() }),
    });
    const challenges = createChallengeServer({ host: '127.0.0.1', port: httpPort, log });
    await challenges.start();
    try {
      const { config } = parseConfig(renewerOptions, ['--owner', 'successor'], env);
      const { renewer } = assembleRenewer(config, {
        store,
        challenges,
        log,
        metrics: createRenewerMetrics(),
        agent: trustAgent(pebble.caPem),
      });
      const spec = { name: 'killed.test', domains: ['killed.test'] };
      expect(await renewer.check(spec)).toMatchObject({ result: 'locked' });
      const outcome = await waitFor(
        async () => {
          const o = await renewer.check(spec);
          return o.result === 'locked' ? undefined : o;
        },
        15_000,
        'the lease to expire',
        500,
      );
      expect(outcome).toMatchObject({ result: 'renewed' });
    } finally {
      await challenges.close();
    }
  });
});
