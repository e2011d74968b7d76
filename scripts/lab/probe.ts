/** What a lab VM serves: the certificate presented for a name, verified against the lab's root. */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';

export interface Served {
  readonly serial: string;
  readonly notAfter: string;
}

/**
 * The certificate `host:port` presents for `servername`, when it chains to `rootPem` and is valid
 * for the name; undefined while it serves none (no certificate installed yet, or another one).
 */
export function servedCertificate(
  host: string,
  servername: string,
  rootPem: string,
  port = 443,
  timeoutMs = 3_000,
): Promise<Served | undefined> {
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port,
      servername,
      ca: rootPem,
      timeout: timeoutMs,
      ALPNProtocols: ['http/1.1'],
    });
    const done = (value: Served | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      if (!socket.authorized || peer === undefined) return done(undefined);
      const cert = new X509Certificate(peer.raw);
      done({ serial: cert.serialNumber.toLowerCase(), notAfter: new Date(cert.validTo).toISOString() });
    });
    socket.once('error', () => done(undefined));
    socket.once('timeout', () => done(undefined));
  });
}
