/**
 * The name check of Redis's TLS certificate. The app reaches Memorystore by IP, and
 * Memorystore's server certificate names that IP as its subject's CN (reported by users of
 * in-transit encryption: envoyproxy/ratelimit#409, "GCP Memorystore which sets the CN to an IP
 * address"), which Node's check ignores for an IP: it wants an IP SAN, and refuses with
 * ERR_TLS_CERT_ALTNAME_INVALID. So a certificate that carries no IP SAN is taken when its CN is
 * the very address connected to. The chain is still verified, against the CAs given
 * (`--redis-ca-file`: the instance's own CA, unique to it, from `serverCaCerts`); a certificate
 * that has IP SANs is judged by them alone, as Node does.
 */
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

export function redisServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const standard = checkServerIdentity(host, cert);
  if (standard === undefined || isIP(host) === 0) return standard;
  if (/(^|,\s*)IP Address:/.test(cert.subjectaltname ?? '')) return standard;
  const cn = cert.subject?.CN;
  const names = Array.isArray(cn) ? cn : cn === undefined ? [] : [cn];
  return names.length === 1 && names[0] === host ? undefined : standard;
}
