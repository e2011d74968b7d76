/**
 * Which certificate the load balancer serves for a name: a TLS handshake with that name as SNI,
 * reading the leaf. Trust is not required (a staging certificate is a certificate too); the
 * names and the dates are what tell a served certificate from none.
 */
import { connect } from 'node:tls';

export interface ServedCertificate {
  readonly name: string;
  /** The certificate covers the name and is valid now. */
  readonly ok: boolean;
  readonly dnsNames: readonly string[];
  readonly notAfter?: Date;
  readonly issuer?: string;
  readonly serial?: string;
  /** Why nothing usable was served (connection refused, handshake failed, wrong names…). */
  readonly problem?: string;
}

function covers(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  return pattern.startsWith('*.') && name.slice(name.indexOf('.')) === pattern.slice(1);
}

export function probeCertificate(
  host: string,
  port: number,
  name: string,
  { timeoutMs = 5_000, now = new Date() }: { timeoutMs?: number; now?: Date } = {},
): Promise<ServedCertificate> {
  return new Promise((resolve) => {
    const socket = connect({
      host,
      port,
      servername: name,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const done = (result: ServedCertificate) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () =>
      done({ name, ok: false, dnsNames: [], problem: `no TLS answer within ${timeoutMs} ms` }),
    );
    socket.once('error', (err) => done({ name, ok: false, dnsNames: [], problem: err.message }));
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      if (cert === undefined || Object.keys(cert).length === 0) {
        done({ name, ok: false, dnsNames: [], problem: 'no certificate was served' });
        return;
      }
      const dnsNames = (cert.subjectaltname ?? '')
        .split(', ')
        .filter((s) => s.startsWith('DNS:'))
        .map((s) => s.slice(4));
      const notAfter = new Date(cert.valid_to);
      const notBefore = new Date(cert.valid_from);
      const issuer = [cert.issuer?.O, cert.issuer?.CN].filter(Boolean).join(' ');
      const named = dnsNames.some((p) => covers(p, name));
      const current = notBefore <= now && now < notAfter;
      done({
        name,
        ok: named && current,
        dnsNames,
        notAfter,
        issuer,
        serial: cert.serialNumber,
        ...(named
          ? current
            ? {}
            : { problem: `not valid now (${cert.valid_from} – ${cert.valid_to})` }
          : { problem: `served certificate is for ${dnsNames.join(', ') || 'no name'}` }),
      });
    });
  });
}
