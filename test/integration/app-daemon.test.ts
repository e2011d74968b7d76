import { afterEach, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnApp, spawnCli } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { startNotifySocket } from '../helpers/notify-socket.ts';
import { waitFor } from '../helpers/wait.ts';
import { connect, op, type TestClient } from '../helpers/ws-client.ts';

describe('wsfleet app run (the real entry point)', () => {
  const daemons: DaemonProcess[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
  });

  it('lists every config problem at once and exits 78', async () => {
    const daemon = spawnCli(['app', 'run', '--port', '70000', '--bogus'], {
      WSFLEET_REDIS_URL: 'http://not-redis',
      WSFLEET_API_KEY: 'short',
    });
    daemons.push(daemon);
    const { code } = await daemon.exited;
    expect(code).toBe(78);
    const stderr = daemon.stderr.join('');
    expect(stderr).toContain('Unknown flag `--bogus`');
    expect(stderr).toContain(
      'Expected `--port` (WSFLEET_PORT) to be an integer from 0 to 65535, got "70000"',
    );
    expect(stderr).toContain('Expected `WSFLEET_REDIS_URL` (--redis-url) to be a redis:// or rediss:// URL');
    expect(stderr).toContain(
      'Expected `WSFLEET_API_KEY` (--api-key) to be a key of at least 16 characters, got (hidden)',
    );
    expect(stderr).not.toContain('short');
  });

  it('refuses a previous secret or key given without the current one (exit 78, both named)', async () => {
    const daemon = spawnCli(['app', 'run'], {
      WSFLEET_TOKEN_SECRET_PREVIOUS: 'p'.repeat(43),
      WSFLEET_API_KEY_PREVIOUS: 'k'.repeat(43),
    });
    daemons.push(daemon);
    expect((await daemon.exited).code).toBe(78);
    const stderr = daemon.stderr.join('');
    expect(stderr).toContain('`--token-secret-previous` is taken only with `--token-secret`');
    expect(stderr).toContain('`--api-key-previous` is taken only with `--api-key`');
    expect(stderr).not.toContain('p'.repeat(43));
  });

  it('prints help with every flag, its variable and default', async () => {
    const daemon = spawnCli(['app', 'run', '--help']);
    daemons.push(daemon);
    expect((await daemon.exited).code).toBe(0);
    const help = daemon.stdout.join('\n');
    expect(help).toMatch(/--redis-url <value>\s+WSFLEET_REDIS_URL/);
    expect(help).toMatch(/--port <value>\s+WSFLEET_PORT\s+.*\(default: 8080\)/);
  });

  it('answers an unknown command with usage and exit 64', async () => {
    const daemon = spawnCli(['nope']);
    daemons.push(daemon);
    expect((await daemon.exited).code).toBe(64);
    expect(daemon.stderr.join('')).toContain('Usage: wsfleet <command>');
  });

  it('signals readiness to systemd only once it serves, and STOPPING on SIGTERM', async () => {
    const socket = await startNotifySocket();
    try {
      const port = await freePort();
      const daemon = await spawnApp(port, ['--drain-seconds', '0.2'], { NOTIFY_SOCKET: socket.path });
      daemons.push(daemon);
      await waitFor(() => socket.messages.some((m) => m.includes('READY=1')), 5_000, 'READY=1');
      expect(socket.messages.find((m) => m.includes('READY=1'))).toContain(
        `STATUS=serving on 127.0.0.1:${port}`,
      );
      expect((await daemon.stop()).code).toBe(0);
      expect(socket.messages.some((m) => m.includes('STOPPING=1'))).toBe(true);
    } finally {
      await socket.close();
    }
  });

  it('drains on SIGTERM: 1012 to every client, exit 0 before the deadline, last log line "stopped"', async () => {
    const port = await freePort();
    const daemon = await spawnApp(port, ['--drain-seconds', '1']);
    daemons.push(daemon);
    const many = await Promise.all([...Array(30).keys()].map(() => connect(daemon.url)));
    clients.push(...many);
    await Promise.all(many.map((c) => c.next(op('welcome'))));
    daemon.child.kill('SIGTERM');
    await waitFor(
      async () => (await fetch(`${daemon.http}/healthz`).catch(() => undefined))?.status === 503,
      2_000,
      '503',
    );
    const codes = await Promise.all(many.map((c) => c.closed.then((r) => r.code)));
    expect(new Set(codes)).toEqual(new Set([1012]));
    const { code } = await daemon.exited;
    expect(code).toBe(0);
    // Past its deadline the daemon exits 1 and logs WSFLEET_SHUTDOWN_TIMEOUT; exit 0 means it
    // finished before it.
    const logs = daemon.logs();
    expect(logs.some((l) => l.code === 'WSFLEET_SHUTDOWN_TIMEOUT')).toBe(false);
    expect(logs.at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
    expect(logs.some((l) => l.msg === 'shutting down' && l.reason === 'SIGTERM')).toBe(true);
  });
});
