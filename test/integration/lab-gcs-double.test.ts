/**
 * `wsfleet lab gcs-double`, the real entry point: the daemons' own store client writes and reads
 * through it, it stops cleanly on a signal, and bad flags are all reported at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../daemons/shared/store/open-store.ts';
import { type DaemonProcess, spawnCli } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { waitFor } from '../helpers/wait.ts';

describe('wsfleet lab gcs-double', () => {
  const running: DaemonProcess[] = [];

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
  });

  async function start(args: string[], env: Record<string, string> = {}) {
    const p = spawnCli(['lab', 'gcs-double', ...args], env);
    running.push(p);
    const listening = await waitFor(
      () => {
        if (p.child.exitCode !== null) throw new Error(`exited: ${p.stderr.join('')}`);
        return p.logs().find((l) => l.msg === 'listening');
      },
      10_000,
      'the listening log line',
    );
    return { p, listening };
  }

  it('serves the store of the daemons over plain HTTP and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const { p, listening } = await start(['--host', '127.0.0.1', '--port', String(port)], {
      WSFLEET_BUCKET: 'lab-certs lab-other',
    });
    expect(listening).toMatchObject({
      level: 'info',
      port,
      apiEndpoint: `http://127.0.0.1:${port}`,
      buckets: ['lab-certs', 'lab-other'],
    });

    const store = openStore('gs://lab-certs/fleet', { gcs: { apiEndpoint: `http://127.0.0.1:${port}` } });
    const written = await store.put('certs/a.test/current', Buffer.from('chain'), { ifGenerationMatch: '0' });
    const read = await store.get('certs/a.test/current');
    expect(read?.data.toString()).toBe('chain');
    expect(read?.generation).toBe(written.generation);
    const other = openStore('gs://lab-other', { gcs: { apiEndpoint: `http://127.0.0.1:${port}` } });
    expect(await other.list('')).toEqual([]);

    const { code, signal } = await p.stop('SIGTERM');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(p.logs().at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
  });

  it('exits 78 listing every bad flag', async () => {
    const p = spawnCli([
      'lab',
      'gcs-double',
      '--host',
      'not-an-ip',
      '--port',
      '70000',
      '--bucket',
      'Bad_Name',
    ]);
    running.push(p);
    const { code } = await p.exited;
    const stderr = p.stderr.join('');
    expect(code).toBe(78);
    expect(stderr).toContain(
      'Expected `--host` (WSFLEET_HOST) to be an IPv4 or IPv6 address, got "not-an-ip"',
    );
    expect(stderr).toContain(
      'Expected `--port` (WSFLEET_PORT) to be an integer from 0 to 65535, got "70000"',
    );
    expect(stderr).toContain('Expected `--bucket` (WSFLEET_BUCKET) to be bucket names');
  });

  it('exits 78 without a bucket', async () => {
    const p = spawnCli(['lab', 'gcs-double', '--port', '0']);
    running.push(p);
    const { code } = await p.exited;
    expect(code).toBe(78);
    expect(p.stderr.join('')).toContain('Missing `--bucket` (WSFLEET_BUCKET)');
  });
});
