/**
 * The renewer daemon killed at the worst moment: right after the CA finalized its order, before
 * the certificate reached the store. The real entry point, Pebble behind the ARI proxy (which
 * counts finalize requests), and the GCS double as the store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCertStore, createGcsStore } from '../../daemons/shared/store/index.ts';
import { type GcsDouble, startGcsDouble } from '../../scripts/lab/gcs-double/server.ts';
import { type DaemonProcess, spawnCli } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { type Pebble, startPebble } from '../helpers/pebble.ts';
import { waitFor } from '../helpers/wait.ts';

const NAME = 'crash.test';

describe('wsfleet renewer killed right after finalize', () => {
  let pebble: Pebble;
  let gcs: GcsDouble;
  let httpPort: number;
  let dir: string;
  const daemons: DaemonProcess[] = [];

  beforeAll(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort, ari: true });
    gcs = await startGcsDouble({ buckets: ['certs'] });
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-crash-'));
  });

  afterEach(async () => {
    await gcs.fail({ kind: 'none' });
    await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
  });

  afterAll(async () => {
    await Promise.all([pebble?.stop(), gcs?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes the certificate of the killed order on restart, with exactly one finalize at the CA', async () => {
    const ari = pebble.ari;
    if (ari === undefined) throw new Error('started without ari');
    const env: Record<string, string> = {
      NODE_EXTRA_CA_CERTS: pebble.caFile,
      WSFLEET_STORE: 'gs://certs/crash',
      WSFLEET_GCS_ENDPOINT: gcs.apiEndpoint,
      WSFLEET_DIRECTORY_URL: ari.directoryUrl,
      WSFLEET_HTTP_HOST: '127.0.0.1',
      WSFLEET_HTTP_PORT: String(httpPort),
      WSFLEET_SELF_CHECK_PORT: String(httpPort),
      WSFLEET_DNS_SERVER: pebble.dnsServer,
      WSFLEET_METRICS_PORT: '0',
      WSFLEET_CONTROL_SOCKET: join(dir, 'control.sock'),
      WSFLEET_LEASE_SECONDS: '5',
      WSFLEET_CERT: NAME,
    };
    const store = createCertStore(
      createGcsStore({ bucket: 'certs', prefix: 'crash', storage: gcs.storage() }),
    );
    const stateKey = `crash/state/${NAME}.json`;
    const pendingStored = () =>
      gcs.objects.get(`certs/${stateKey}`)?.data.toString().includes('"pending"') === true;
    // Once the order is persisted, every store request hangs: the daemon gets its certificate
    // from the CA but can store nothing, and is killed while it waits.
    await gcs.fail({ kind: 'hang', when: () => pendingStored() });
    const finalizesBefore = ari.finalizes.length;

    const first = spawnCli(['renewer', 'run'], env);
    daemons.push(first);
    const issued = await waitFor(
      () => first.logs().find((l) => l.msg === 'certificate issued'),
      30_000,
      'the CA to issue',
    );
    await first.stop('SIGKILL');
    expect(ari.finalizes.length - finalizesBefore).toBe(1);
    await gcs.fail({ kind: 'none' });
    expect(await store.current(NAME)).toBeUndefined();
    expect((await store.state(NAME))?.pending?.orderUrl).toMatch(/^https:/);

    // The restarted daemon waits out the dead one's lease, then completes its order.
    const second = spawnCli(['renewer', 'run'], env);
    daemons.push(second);
    const current = await waitFor(() => store.current(NAME), 30_000, 'the certificate in the store');
    expect(current.certificate.serial).toBe((issued as { serial?: unknown }).serial);
    expect(ari.finalizes.length - finalizesBefore).toBe(1);
    expect(second.logs().some((l) => l.msg === 'completing the order a previous attempt finalized')).toBe(
      true,
    );
    await waitFor(
      async () => ((await store.state(NAME))?.pending === undefined ? true : undefined),
      10_000,
      'the pending order to be cleared',
    );
    expect((await second.stop()).code).toBe(0);
  });
});
