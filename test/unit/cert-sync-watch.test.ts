import { mkdir, mkdtemp, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { certSyncOptions } from '../../daemons/cert-sync/config.ts';
import { type CertSync, createCertSync } from '../../daemons/cert-sync/daemon.ts';
import { readLive } from '../../daemons/cert-sync/install.ts';
import { createTrustAnchors } from '../../daemons/cert-sync/trust.ts';
import { parseConfig } from '../../daemons/shared/config.ts';
import { type CertStore, createCertStore, createFileStore } from '../../daemons/shared/store/index.ts';
import { type CertChain, openCertChain } from '../helpers/cert-chain.ts';
import { certificateVersion, createFakeNginx, type FakeNginx, type Leaf } from '../helpers/certs.ts';
import { captureLogs, type LogLine } from '../helpers/logs.ts';
import { waitFor } from '../helpers/wait.ts';

const NAME = 'a.test';
const SETTLE_MS = 100;

describe('cert-sync and changes made by hand under live/', () => {
  let chain: CertChain;
  let dir: string;
  let store: CertStore;
  let nginx: FakeNginx;
  let logs: LogLine[];
  let certSync: CertSync;

  beforeAll(async () => {
    chain = await openCertChain('Watch', [NAME], 3);
  });

  afterAll(async () => {
    await chain?.close();
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-watch-'));
    const tls = join(dir, 'tls');
    store = createCertStore(createFileStore(join(dir, 'store')));
    await store.publish(certificateVersion(leaf(0), [NAME]), undefined);
    nginx = createFakeNginx(tls);
    const captured = captureLogs('test');
    logs = captured.logs;
    const { config } = parseConfig(
      certSyncOptions,
      [
        '--cert',
        NAME,
        '--dir',
        tls,
        '--renewer',
        '127.0.0.1:9',
        '--metrics-port',
        '0',
        '--poll-interval',
        '3600',
      ],
      {},
    );
    certSync = createCertSync(config, {
      store,
      nginx,
      log: captured.log,
      anchors: createTrustAnchors([chain.rootPem]),
      settleMs: SETTLE_MS,
      servedCheck: { attempts: 2, delayMs: 5, timeoutMs: 100 },
    });
    await certSync.start();
    expect(certSync.ledger.installed(NAME)?.info.serial).toBe(leaf(0).serial);
  });

  afterEach(async () => {
    await certSync.close();
    await rm(dir, { recursive: true, force: true });
  });

  const leaf = (i: number) => chain.leaves[i] as Leaf;
  const tls = () => join(dir, 'tls');
  const liveDir = () => join(tls(), 'live', NAME);
  const reloads = () => nginx.calls.filter((c) => c === 'reload').length;
  const changes = () => logs.filter((l) => l.msg === 'live certificate changed on disk; checking it');
  const settled = () => new Promise((r) => setTimeout(r, SETTLE_MS * 5));

  async function drop(folder: string, bundle: Leaf): Promise<void> {
    await writeFile(join(folder, 'fullchain.pem'), bundle.certificatePem);
    await writeFile(join(folder, 'privkey.pem'), bundle.privateKeyPem, { mode: 0o600 });
  }

  it('ignores its own writes', async () => {
    await settled();
    const before = reloads();
    await store.publish(certificateVersion(leaf(1), [NAME]), await store.currentGeneration(NAME));
    expect((await certSync.syncOnce()).ok).toBe(true);
    expect(reloads()).toBe(before + 1);
    await settled();
    // The watcher saw the writes, and the applier recognised them as its own.
    expect(logs.some((l) => l.msg === 'files changed under live/ or versions/' && l.name === NAME)).toBe(
      true,
    );
    expect(changes()).toEqual([]);
    expect(reloads()).toBe(before + 1);
  });

  it('applies a valid certificate an operator put in a folder at live/<name>', async () => {
    await settled();
    const before = reloads();
    // The folder is filled first and moved in at once, as `mv` does: a drop written file by file
    // into live/<name> is checked once it settles, and a machine slow enough to split the writes
    // across the settle time would see its half-written state refused and reverted.
    const ready = join(dir, 'drop');
    await mkdir(ready);
    await drop(ready, leaf(1));
    await rm(liveDir());
    await rename(ready, liveDir());

    await waitFor(
      () => certSync.ledger.installed(NAME)?.info.serial === leaf(1).serial,
      20_000,
      'the drop applied',
    );
    expect(reloads()).toBe(before + 1);
    expect(nginx.served.get(NAME)?.serial).toBe(leaf(1).serial);
    // The folder became a version of ours; the operator's folder is kept aside.
    expect(await readlink(liveDir())).toMatch(new RegExp(`^\\.\\./versions/${NAME}/${leaf(1).serial}-`));
    expect(await readdir(join(tls(), 'displaced'))).toHaveLength(1);
    expect(changes()).toHaveLength(1);
    const installs = (await certSync.metrics.installs.get()).values.map((v) => ({
      ...v.labels,
      value: v.value,
    }));
    expect(installs).toContainEqual({ name: NAME, source: 'local', value: 1 });
  });

  it('applies a link an operator swapped to a folder of their own', async () => {
    await settled();
    const own = join(dir, 'by-hand');
    await mkdir(own);
    await drop(own, leaf(2));
    await symlink(own, join(tls(), 'live', '.swap'));
    await rename(join(tls(), 'live', '.swap'), liveDir());

    await waitFor(
      () => certSync.ledger.installed(NAME)?.info.serial === leaf(2).serial,
      20_000,
      'the link applied',
    );
    expect(nginx.served.get(NAME)?.serial).toBe(leaf(2).serial);
    expect(await readlink(liveDir())).toMatch(/^\.\.\/versions\//);
  });

  it('reverts an invalid certificate written through the link to the last good one', async () => {
    await settled();
    const before = reloads();
    await drop(liveDir(), chain.expired);

    await waitFor(() => certSync.ledger.lastRefusal(NAME)?.reason === 'expired', 20_000, 'the refusal');
    await waitFor(
      async () => (await readLive(tls(), NAME))?.certificatePem === leaf(0).certificatePem,
      20_000,
      'live/<name> restored',
    );
    expect((await readLive(tls(), NAME))?.privateKeyPem).toBe(leaf(0).privateKeyPem);
    expect(reloads()).toBe(before);
    expect(nginx.served.get(NAME)?.serial).toBe(leaf(0).serial);
    expect(logs.find((l) => l.code === 'WSFLEET_CERT_REFUSED')).toMatchObject({
      reason: 'expired',
      serial: chain.expired.serial,
      source: 'local',
    });
  });

  it('restores live/<name> when an operator removes it', async () => {
    await settled();
    await rm(liveDir());
    await waitFor(
      async () => (await readLive(tls(), NAME))?.certificatePem === leaf(0).certificatePem,
      20_000,
      'live/<name> restored',
    );
    expect(certSync.ledger.lastRefusal(NAME)).toMatchObject({ reason: 'parse', source: 'local' });
  });
});
