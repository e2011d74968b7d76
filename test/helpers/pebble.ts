/**
 * A real Pebble ACME server for integration tests, on free ports of 127.0.0.1, with
 * pebble-challtestsrv as its DNS (every test name resolves to 127.0.0.1), so Pebble validates
 * HTTP-01 by connecting to 127.0.0.1:<httpPort>, where the test runs the challenge server.
 *
 * Trusting Pebble's HTTPS API (its own certificate comes from a throwaway CA, `caPem`):
 * - in-process clients pass `trustAgent(caPem)` as the ACME client's `agent`;
 * - spawned processes (the renewer daemon) get `NODE_EXTRA_CA_CERTS=<file with caPem>`
 *   (`caFile`), which Node's default agent, and so acme-client's axios, honours.
 * The certificates Pebble *issues* chain to a different root, regenerated at every start:
 * `rootsPem()` / `intermediatesPem()` fetch them from the management API.
 * With `ari: true`, an ARI proxy (ari-proxy.ts) runs in front, presenting the same TLS leaf, so
 * the same trust works for `ari.directoryUrl`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestTls, type TestTls } from '../../scripts/lab/tls.ts';
import { type AriProxy, startAriProxy } from './ari-proxy.ts';
import { freePort } from './net.ts';
import { spawnTracked, startChallTestSrv } from './pebble-challtestsrv.ts';
import { waitFor } from './wait.ts';

export interface PebbleOptions {
  /** Where Pebble's VA connects for HTTP-01 (the test's challenge server listens there). */
  readonly httpPort: number;
  /**
   * PEBBLE_WFE_NONCEREJECT: percentage of valid nonces rejected with badNonce. Default 0, not
   * Pebble's own 5%, so that a test sees exactly the requests it caused.
   */
  readonly nonceReject?: number;
  /** More environment for the pebble process (e.g. PEBBLE_AUTHZREUSE). */
  readonly env?: Readonly<Record<string, string>>;
  /** Also start an ARI proxy in front (see ari-proxy.ts), as `ari`. */
  readonly ari?: boolean;
}

export interface Pebble {
  /** `https://127.0.0.1:<port>/dir`: Pebble itself, without ARI. */
  readonly directoryUrl: string;
  /** The ARI proxy in front of Pebble (its own `directoryUrl`), when asked for. */
  readonly ari: AriProxy | undefined;
  /** `https://127.0.0.1:<port>`: what a proxy forwards to. */
  readonly origin: string;
  /** CA of Pebble's HTTPS API (not of the certificates it issues). */
  readonly caPem: string;
  /** A file holding `caPem`, for NODE_EXTRA_CA_CERTS of spawned processes. */
  readonly caFile: string;
  /** Pebble's own TLS leaf (127.0.0.1, localhost); a proxy in front of it may present it too. */
  readonly tls: TestTls;
  /** `127.0.0.1:<port>` of the DNS stand-in. */
  readonly dnsServer: string;
  /** Management API of pebble-challtestsrv (`/add-a`, …). */
  readonly challtestsrvUrl: string;
  /** The root of the certificates Pebble issues (PEM). */
  rootsPem(): Promise<string>;
  /** The intermediate that signs them (PEM). */
  intermediatesPem(): Promise<string>;
  /** Stops Pebble and its DNS, removes the files. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;

/** An https.Agent trusting exactly `caPem`: for in-process ACME clients and test requests. */
export function trustAgent(caPem: string): Agent {
  return new Agent({ ca: caPem, keepAlive: false });
}

/** GET over HTTPS trusting `caPem`, bounded; resolves with status and body. */
export function httpsGet(
  url: string,
  caPem: string,
  timeoutMs = 5_000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-pebble-'));
  const cleanups: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.splice(0).reverse()) await step();
  };
  try {
    const tls = await createTestTls();
    const dns = await startChallTestSrv();
    cleanups.push(() => dns.stop());
    const [listenPort, managementPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, tls.caPem);
    await writeFile(join(dir, 'cert.pem'), tls.certPem);
    await writeFile(join(dir, 'key.pem'), tls.keyPem, { mode: 0o600 });
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${listenPort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort: options.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    };
    const configFile = join(dir, 'pebble-config.json');
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      // No random 0–15 s sleep before each validation.
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: String(options.nonceReject ?? 0),
      ...options.env,
    };
    const proc = spawnTracked('/usr/bin/pebble', ['-config', configFile, '-dnsserver', dns.dnsServer], env);
    cleanups.push(() => proc.stop());

    const origin = `https://127.0.0.1:${listenPort}`;
    const directoryUrl = `${origin}/dir`;
    const exited = (): boolean => proc.child.exitCode !== null || proc.child.signalCode !== null;
    try {
      await waitFor(
        async () => exited() || (await httpsGet(directoryUrl, tls.caPem, 1_000)).status === 200,
        START_TIMEOUT_MS,
        `Pebble's directory at ${directoryUrl}`,
        50,
      );
      if (exited()) throw new Error(`pebble exited (${proc.child.exitCode ?? proc.child.signalCode})`);
    } catch (err) {
      throw new Error(`pebble did not start:\n${proc.output()}`, { cause: err });
    }

    let ari: AriProxy | undefined;
    if (options.ari === true) {
      ari = await startAriProxy({
        upstreamDirectoryUrl: directoryUrl,
        caPem: tls.caPem,
        certPem: tls.certPem,
        keyPem: tls.keyPem,
        profiles: { classic: 'The usual 90-day certificate', shortlived: 'A 6-day certificate' },
      });
      const proxy = ari;
      cleanups.push(() => proxy.close());
    }

    const management = `https://127.0.0.1:${managementPort}`;
    const fetchPem = async (path: string): Promise<string> => {
      const { status, body } = await httpsGet(`${management}${path}`, tls.caPem);
      if (status !== 200) throw new Error(`Pebble management ${path} answered ${status}`);
      return body;
    };
    let stopped = false;
    return {
      directoryUrl,
      ari,
      origin,
      caPem: tls.caPem,
      caFile,
      tls,
      dnsServer: dns.dnsServer,
      challtestsrvUrl: dns.managementUrl,
      rootsPem: () => fetchPem('/roots/0'),
      intermediatesPem: () => fetchPem('/intermediates/0'),
      async stop() {
        if (stopped) return;
        stopped = true;
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
