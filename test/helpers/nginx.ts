/**
 * A real nginx for tests, running the configuration the app image ships (images/app/nginx/)
 * with the generated file rendered by the Nginx module for free ports on 127.0.0.1; plus a test
 * certificate authority whose leaves are installed the way cert-sync installs them
 * (`<tlsDir>/live/<name>/fullchain.pem` and `privkey.pem`), and a stand-in for the renewer's
 * challenge server.
 *
 * nginx runs as root in the foreground (`daemon off`) in its own process group, with its pid
 * file and error log in a temporary prefix; stop() always ends the master and every worker and
 * removes the prefix.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNginx, type Nginx, type NginxCertificate } from '../../daemons/cert-sync/nginx.ts';
import { EC_KEY, issueLeaf, openssl, signRequest } from '../../scripts/lab/tls.ts';
import { captureLogs, type LogLine } from './logs.ts';
import { freePort } from './net.ts';
import { waitFor } from './wait.ts';

/** The static nginx files of the app image. */
export const IMAGE_NGINX_DIR = fileURLToPath(new URL('../../images/app/nginx/', import.meta.url));

export interface NginxInstance {
  /** nginx's prefix (-p): pid file, error log, access log, conf/ and tls/. */
  readonly prefix: string;
  /** The shipped files, copied: conf/nginx.conf, conf/wsfleet/, conf/conf.d/ (generated). */
  readonly confFile: string;
  readonly tlsDir: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly accessLog: string;
  /** The module under test, wired to this instance's test and reload commands. */
  readonly nginx: Nginx;
  /** The module's log lines. */
  readonly logs: LogLine[];
  /** What nginx printed on stderr (its error_log stderr). */
  readonly stderr: string[];
  readonly master: ChildProcess;
  /** Worker pids of the master now (old workers still finishing connections included). */
  workers(): Promise<number[]>;
  /**
   * The module's reload(), then waits (bounded) until every worker of before the reload has
   * stopped accepting connections, so what answers next is the new configuration.
   */
  reload(): Promise<void>;
  /** The error log so far. */
  errorLog(): Promise<string>;
  /** QUIT (graceful, bounded by `graceMs`), then TERM, then KILL of the whole process group; removes the prefix. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartNginxOptions {
  /** host:port of the app (a real app daemon or a stand-in). */
  readonly appUpstream: string;
  /** host:port of the renewer stand-in. */
  readonly renewer: string;
  /** Rendered before nginx starts; default none (HTTP-only mode). */
  readonly certs?: readonly NginxCertificate[];
  /** Where certificates are installed; default `<prefix>/tls`. */
  readonly tlsDir?: string;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function exitWithin(child: ChildProcess, ms: number): Promise<boolean> {
  if (!alive(child)) return true;
  let timer: NodeJS.Timeout | undefined;
  const exited = await Promise.race([
    once(child, 'exit').then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return exited;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Children of `pid`, from /proc (nginx workers are the master's children). */
/**
 * Whether worker `pid` has stopped accepting: it exited, or it is finishing its connections
 * (nginx retitles it "worker process is shutting down" just before closing its listening sockets).
 */
async function retired(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('shutting down');
  } catch {
    return true;
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startNginx(options: StartNginxOptions): Promise<NginxInstance> {
  const prefix = await mkdtemp(join(tmpdir(), 'wsfleet-nginx-'));
  let master: ChildProcess | undefined;
  try {
    const confDir = join(prefix, 'conf');
    await cp(IMAGE_NGINX_DIR, confDir, { recursive: true });
    await mkdir(join(confDir, 'conf.d'), { recursive: true });
    const tlsDir = options.tlsDir ?? join(prefix, 'tls');
    await mkdir(tlsDir, { recursive: true });
    const confFile = join(confDir, 'nginx.conf');
    const accessLog = join(prefix, 'access.log');
    // What the Debian unit leaves to compile-time defaults, pointed into the prefix.
    const globals = `pid ${join(prefix, 'nginx.pid')}; error_log ${join(prefix, 'error.log')} info;`;
    const base = ['-p', prefix, '-c', confFile, '-g'];
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const { log, logs } = captureLogs('wsfleet-cert-sync');
    const nginx = createNginx({
      confDir: join(confDir, 'conf.d'),
      tlsDir,
      httpPort,
      httpsPort,
      appUpstream: options.appUpstream,
      renewer: options.renewer,
      listenAddress: '127.0.0.1',
      accessLog,
      testCommand: ['nginx', '-t', '-q', ...base, globals],
      reloadCommand: ['nginx', '-s', 'reload', ...base, globals],
      commandTimeoutMs: 10_000,
      log,
    });
    await nginx.render(options.certs ?? []);

    const started = spawn('nginx', [...base, `daemon off; master_process on; ${globals}`], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    master = started;
    const stderr: string[] = [];
    started.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const errorLog = () => readFile(join(prefix, 'error.log'), 'utf8').catch(() => '');
    await waitFor(
      async () => {
        if (!alive(started)) throw new Error(`nginx exited: ${stderr.join('')}${await errorLog()}`);
        return portAccepts(httpPort);
      },
      10_000,
      `nginx on port ${httpPort}`,
      25,
    );

    let stopped: Promise<void> | undefined;
    return {
      prefix,
      confFile,
      tlsDir,
      httpPort,
      httpsPort,
      accessLog,
      nginx,
      logs,
      stderr,
      master: started,
      workers: () => childrenOf(started.pid as number),
      async reload() {
        const before = await childrenOf(started.pid as number);
        await nginx.reload();
        await waitFor(
          async () => (await Promise.all(before.map(retired))).every(Boolean),
          10_000,
          `nginx's old workers ${before.join(', ')} to stop accepting after the reload`,
          25,
        );
      },
      errorLog,
      stop(graceMs = 3_000) {
        stopped ??= (async () => {
          const pid = started.pid as number;
          if (alive(started)) started.kill('SIGQUIT');
          if (!(await exitWithin(started, graceMs))) {
            started.kill('SIGTERM');
            if (!(await exitWithin(started, 5_000))) {
              killGroup(pid, 'SIGKILL');
              await exitWithin(started, 5_000);
            }
          }
          // Workers a dying master could not reap.
          killGroup(pid, 'SIGKILL');
          await rm(prefix, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    if (master?.pid !== undefined) {
      killGroup(master.pid, 'SIGKILL');
      await exitWithin(master, 5_000);
    }
    await rm(prefix, { recursive: true, force: true });
    throw err;
  }
}

// --- certificates ---------------------------------------------------------------------------

export interface IssuedCertificate {
  readonly name: string;
  readonly domains: readonly string[];
  /** Lowercase hex, as certificateInfo() and the Nginx module write serials. */
  readonly serial: string;
  readonly certPem: string;
}

export interface TestCa {
  /** The root: what clients trust (`ca` option, testssl --add-ca). */
  readonly caPem: string;
  readonly caFile: string;
  /**
   * Issues a leaf for `domains` through the intermediate, valid for `days` (default 90, like
   * Let's Encrypt's classic profile), and installs it as `<tlsDir>/live/<name>/fullchain.pem`
   * (leaf + intermediate, like Let's Encrypt's) and `privkey.pem`, replacing what was there.
   */
  issue(tlsDir: string, name: string, domains: readonly string[], days?: number): Promise<IssuedCertificate>;
  /** Removes the CA's files. */
  close(): Promise<void>;
}

/** A root and an intermediate, made with the openssl CLI, valid for 100 days. */
export async function createTestCa(): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-nginx-ca-'));
  try {
    const caExt = [
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ];
    await openssl(
      ['req', '-x509', ...EC_KEY, '-keyout', 'root.key', '-out', 'root.pem', '-days', '100'].concat(
        ['-subj', '/CN=wsfleet nginx test root'],
        caExt,
      ),
      dir,
    );
    await openssl(
      ['req', ...EC_KEY, '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=wsfleet test E1'],
      dir,
    );
    await writeFile(
      join(dir, 'int.ext'),
      'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n',
    );
    await signRequest(dir, {
      csr: 'int.csr',
      caCert: 'root.pem',
      caKey: 'root.key',
      extfile: 'int.ext',
      out: 'int.pem',
      serial: '0x10',
      days: 100,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const [caPem, intermediatePem] = await Promise.all([
    readFile(join(dir, 'root.pem'), 'utf8'),
    readFile(join(dir, 'int.pem'), 'utf8'),
  ]);
  return {
    caPem,
    caFile: join(dir, 'root.pem'),
    async issue(tlsDir, name, domains, days = 90) {
      // Positive, no leading zero byte: the hex is the serial as certificateInfo() prints it.
      const serialBytes = randomBytes(16);
      serialBytes[0] = 0x10 | ((serialBytes[0] as number) & 0x3f);
      const serial = serialBytes.toString('hex');
      const work = join(dir, `${name}-${serial}`);
      await mkdir(work);
      const { certPem, keyPem } = await issueLeaf(work, {
        subject: name,
        altNames: domains.map((d) => `DNS:${d}`),
        caCert: join(dir, 'int.pem'),
        caKey: join(dir, 'int.key'),
        serial: `0x${serial}`,
        days,
        // Like Let's Encrypt's since 2025: a CRL and no OCSP responder.
        extensions: ['crlDistributionPoints=URI:http://crl.wsfleet.test/e1.crl'],
      });
      const live = join(tlsDir, 'live', name);
      await mkdir(live, { recursive: true });
      await writeFile(join(live, 'fullchain.pem'), certPem + intermediatePem, { mode: 0o644 });
      await writeFile(join(live, 'privkey.pem'), keyPem, { mode: 0o600 });
      await rm(work, { recursive: true, force: true });
      return { name, domains, serial, certPem };
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * What cert-sync does with a new set of certificates: render, test, reload, then confirm that
 * each one is served for its first name.
 */
export async function serveCertificates(
  instance: NginxInstance,
  certs: readonly IssuedCertificate[],
): Promise<void> {
  await instance.nginx.render(certs.map(({ name, domains }) => ({ name, domains })));
  await instance.nginx.test();
  await instance.reload();
  for (const cert of certs) {
    await instance.nginx.servedCertificate({
      host: '127.0.0.1',
      port: instance.httpsPort,
      servername: cert.domains[0] ?? cert.name,
      timeoutMs: 2_000,
      expectedSerial: cert.serial,
    });
  }
}

// --- upstream stand-ins ---------------------------------------------------------------------

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Which TCP connection it came on (1, 2, … in accept order). */
  readonly connection: number;
}

export interface StubServer {
  readonly server: Server;
  readonly address: string;
  readonly requests: RecordedRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A small HTTP server on 127.0.0.1 that records every request and answers it with `handler`
 * (default: 200, text naming the path): the renewer's challenge server, or an app stand-in
 * where a test needs to see what nginx sends upstream.
 */
export async function startStub(
  handler: (req: RecordedRequest) => { status: number; body: string; headers?: Record<string, string> } = (
    req,
  ) => ({ status: 200, body: `stub ${req.url}` }),
): Promise<StubServer> {
  const requests: RecordedRequest[] = [];
  let accepted = 0;
  const ids = new WeakMap<object, number>();
  const server = createServer((req, res) => {
    const recorded = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      connection: ids.get(req.socket) ?? 0,
    };
    requests.push(recorded);
    const answer = handler(recorded);
    res.writeHead(answer.status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(answer.body),
      ...answer.headers,
    });
    res.end(answer.body);
  });
  server.on('connection', (socket) => {
    accepted += 1;
    ids.set(socket, accepted);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    server,
    address: `127.0.0.1:${port}`,
    requests,
    connections: () => accepted,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
