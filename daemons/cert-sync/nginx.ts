/**
 * `Nginx`: how cert-sync changes what the app VM's nginx serves. It renders the one generated
 * include file (nginx-render.ts) atomically, checks the whole configuration with `nginx -t`,
 * reloads gracefully (never a restart: open WebSockets stay on the old workers), and reads the
 * certificate nginx actually presents, so a rotation is confirmed end to end.
 *
 * Contract: render → test → reload, one at a time (cert-sync's loop runs them in order). When
 * test() throws, the caller calls restore() so the next reload, whoever triggers it, loads the
 * last good configuration. Commands are argument lists run without a shell, each bounded.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { execa } from 'execa';
import { certificateInfo } from '../shared/certificate-info.ts';
import type { Logger } from '../shared/logger.ts';
import { isMissing, writeAtomic } from '../shared/store/file-io.ts';
import { NginxError, type NginxErrorCode } from './nginx-error.ts';
import { GENERATED_FILE, type NginxCertificate, type RenderInput, renderNginxConf } from './nginx-render.ts';

export { isNginxError, NginxError, type NginxErrorCode } from './nginx-error.ts';
export type { NginxCertificate } from './nginx-render.ts';

export interface NginxOptions {
  /** Folder of the generated file (`/etc/nginx/conf.d`; nginx.conf includes `conf.d/wsfleet.conf`). */
  readonly confDir: string;
  /** Installed certificates: `<tlsDir>/live/<name>/fullchain.pem` and `privkey.pem`. */
  readonly tlsDir: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** The app daemon, `host:port` (`127.0.0.1:8080`). */
  readonly appUpstream: string;
  /** The renewer's challenge server, `host:port`. nginx resolves a name when it loads the configuration. */
  readonly renewer: string;
  /** Address to listen on: IPv4, `[IPv6]` or `*` (default: every address). */
  readonly listenAddress?: string;
  /** JSON access log (absolute path) or `off`; default `/var/log/nginx/access.log`, which Debian rotates. */
  readonly accessLog?: string;
  /** Checks the configuration, e.g. `['nginx', '-t', '-q']`. */
  readonly testCommand: readonly string[];
  /** Reloads gracefully, e.g. `['systemctl', 'reload', 'nginx.service']`. */
  readonly reloadCommand: readonly string[];
  /** Bound on each command (default 30 s). */
  readonly commandTimeoutMs?: number;
  readonly log: Logger;
}

export interface RenderResult {
  /** Whether the generated file's content changed (false: nothing was written). */
  readonly changed: boolean;
  /** Puts back the file as it was before this render (removes it if there was none); a no-op when unchanged. */
  restore(): Promise<void>;
}

export interface ServedCertificate {
  /** Lowercase hex, as the certificate store and certificateInfo() write serials. */
  readonly serial: string;
  readonly notAfter: Date;
  /** SHA-256 fingerprint, `AB:CD:…`. */
  readonly fingerprint256: string;
}

export interface ServedCertificateOptions {
  readonly host: string;
  readonly port: number;
  /** SNI name to ask for (a DNS name). */
  readonly servername: string;
  /** Bound on connect and handshake (default 5 s). */
  readonly timeoutMs?: number;
  /** When given, a different serial throws WSFLEET_NGINX_SERVED_MISMATCH. */
  readonly expectedSerial?: string;
  /**
   * Roots (PEM) the served chain must verify against, for `servername`; unset: not verified (the
   * caller compares serials, and must see the certificate even when it is the wrong one).
   */
  readonly trust?: string;
}

export interface Nginx {
  /**
   * Writes the generated file for `certs` (empty: HTTP-only mode), temp file + rename. `changed`
   * is about that file only: a new certificate under the same name (new files in live/<name>/)
   * renders the same text, and still needs test() and reload() to be served.
   */
  render(certs: readonly NginxCertificate[]): Promise<RenderResult>;
  /** Runs the test command; throws NginxError WSFLEET_NGINX_TEST_FAILED with nginx's output. */
  test(): Promise<void>;
  /** Runs the reload command; throws NginxError WSFLEET_NGINX_RELOAD_FAILED. */
  reload(): Promise<void>;
  /**
   * The certificate served at host:port for `servername`, read over TLS without verifying it
   * (the point is to compare serials). Connection or handshake failures, and a serial other than
   * `expectedSerial`, throw NginxError WSFLEET_NGINX_SERVED_MISMATCH.
   */
  servedCertificate(options: ServedCertificateOptions): Promise<ServedCertificate>;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const DEFAULT_TLS_TIMEOUT_MS = 5_000;

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/**
 * Builds the Nginx module. Throws ConfigError (WSFLEET_CONFIG_INVALID) when an option cannot be
 * rendered, before anything is written.
 */
export function createNginx(options: NginxOptions): Nginx {
  const log = options.log.child({ component: 'nginx' });
  const input: RenderInput = {
    tlsDir: options.tlsDir,
    httpPort: options.httpPort,
    httpsPort: options.httpsPort,
    appUpstream: options.appUpstream,
    renewer: options.renewer,
    listenAddress: options.listenAddress ?? '*',
    accessLog: options.accessLog ?? '/var/log/nginx/access.log',
  };
  renderNginxConf(input, []); // validates the options now rather than at the first render
  const file = join(options.confDir, GENERATED_FILE);
  const timeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  // Renders run one after another, so each one's "previous" is the file as the last one left it.
  let queue: Promise<unknown> = Promise.resolve();

  /** Runs `command`; throws NginxError `code` ("<failure> (exit N): <output>") unless it succeeds. */
  async function run(command: readonly string[], code: NginxErrorCode, failure: string): Promise<number> {
    const [executable, ...args] = command;
    if (executable === undefined) throw new NginxError(code, `${failure}: the command is empty`, { command });
    const started = Date.now();
    const result = await execa(executable, args, {
      reject: false,
      timeout,
      stdin: 'ignore',
      stripFinalNewline: true,
    });
    if (result.failed) {
      const printed = [result.stderr, result.stdout].filter((s) => typeof s === 'string' && s !== '');
      const output = (printed.length > 0 ? printed.join('\n') : (result.shortMessage ?? '')).trim();
      const why = result.timedOut
        ? `no answer within ${timeout} ms`
        : result.exitCode === undefined
          ? 'could not run'
          : `exit ${result.exitCode}`;
      throw new NginxError(code, `${failure} (${why})`, { command, output, cause: result.cause });
    }
    return Date.now() - started;
  }

  return {
    render(certs) {
      const step = queue.then(async (): Promise<RenderResult> => {
        const text = renderNginxConf(input, certs);
        const previous = await readIfPresent(file);
        if (previous !== undefined && previous.toString('utf8') === text) {
          return { changed: false, restore: async () => {} };
        }
        const restore = async () => {
          if (previous === undefined) await rm(file, { force: true });
          else await writeAtomic(file, previous);
          log.info({ file }, 'nginx configuration restored');
        };
        await mkdir(options.confDir, { recursive: true });
        await writeAtomic(file, Buffer.from(text, 'utf8'));
        log.info({ file, certificates: certs.map((c) => c.name) }, 'nginx configuration rendered');
        return { changed: true, restore };
      });
      queue = step.catch(() => undefined);
      return step;
    },

    async test() {
      const durationMs = await run(
        options.testCommand,
        'WSFLEET_NGINX_TEST_FAILED',
        'nginx refused the configuration',
      );
      log.debug({ command: options.testCommand, durationMs }, 'nginx configuration test passed');
    },

    async reload() {
      const durationMs = await run(
        options.reloadCommand,
        'WSFLEET_NGINX_RELOAD_FAILED',
        'nginx reload failed',
      );
      log.info({ command: options.reloadCommand, durationMs }, 'nginx reloaded');
    },

    servedCertificate,
  };
}

/**
 * The certificate nginx serves at host:port for a name (SNI), read from a TLS handshake; with
 * `expectedSerial`, a different one is WSFLEET_NGINX_SERVED_MISMATCH. Needs no configuration,
 * so `cert-sync status` can ask it too.
 */
export async function servedCertificate({
  host,
  port,
  servername,
  timeoutMs = DEFAULT_TLS_TIMEOUT_MS,
  expectedSerial,
  trust,
}: ServedCertificateOptions): Promise<ServedCertificate> {
  const where = `${host}:${port} (SNI ${servername})`;
  let peer: PeerCertificate;
  try {
    peer = await peerCertificate(host, port, servername, timeoutMs, trust);
  } catch (err) {
    throw new NginxError(
      'WSFLEET_NGINX_SERVED_MISMATCH',
      `cannot read the certificate served at ${where}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const info = certificateInfo(new X509Certificate(peer.raw).toString());
  const served = { serial: info.serial, notAfter: info.notAfter, fingerprint256: info.fingerprint256 };
  if (expectedSerial !== undefined && served.serial !== expectedSerial.toLowerCase()) {
    throw new NginxError(
      'WSFLEET_NGINX_SERVED_MISMATCH',
      `${where} serves serial ${served.serial}, expected ${expectedSerial.toLowerCase()}`,
    );
  }
  return served;
}

/** One TLS handshake, bounded; resolves with the leaf the server presented. */
function peerCertificate(
  host: string,
  port: number,
  servername: string,
  timeoutMs: number,
  trust: string | undefined,
): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername,
      ...(trust === undefined ? { rejectUnauthorized: false } : { ca: trust, rejectUnauthorized: true }),
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(
      () => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate();
      socket.destroy();
      if (peer.raw === undefined) reject(new Error('the server presented no certificate'));
      else resolve(peer);
    });
  });
}
