/**
 * What the renewer needs to know about a certificate chain, read with node:crypto's
 * X509Certificate plus a minimal DER walker for what X509Certificate does not expose: the raw
 * serial INTEGER, the Authority Key Identifier and the subjectAltName DNS names.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';

export interface CertificateInfo {
  /**
   * Serial number as lowercase hex of its magnitude, an even number of digits, without the sign
   * byte DER adds when the high bit is set (`00:87:…` in DER reads `87…`), as crt.sh and the
   * CAs' URLs write it.
   */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** subjectAltName dNSName entries, in certificate order. */
  readonly dnsNames: readonly string[];
  /** Issuer distinguished name on one line, e.g. `C=US, O=Let's Encrypt, CN=E6`. */
  readonly issuer: string;
  /** RFC 9773 certificate identifier for ARI; undefined when the leaf has no AKI keyIdentifier. */
  readonly ariCertId: string | undefined;
  /** SHA-256 fingerprint, `AB:CD:…`. */
  readonly fingerprint256: string;
  /** Number of certificates in the chain, leaf included. */
  readonly chainLength: number;
}

/** A PEM chain that cannot be read. */
export class CertificateParseError extends Error {
  readonly code = 'WSFLEET_CERTIFICATE_INVALID';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CertificateParseError';
  }
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM chain, leaf first, each as its own PEM block. */
export function splitPemChain(chainPem: string): string[] {
  return chainPem.match(PEM_BLOCK) ?? [];
}

/** Reads a PEM chain; the leaf is the first certificate. Throws CertificateParseError. */
export function certificateInfo(chainPem: string): CertificateInfo {
  const pems = splitPemChain(chainPem);
  const leafPem = pems[0];
  if (leafPem === undefined) throw new CertificateParseError('no PEM certificate found');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem);
  } catch (err) {
    throw new CertificateParseError('the leaf certificate does not parse', { cause: err });
  }
  const fields = readTbsFields(leaf.raw);
  const aki = fields.extensions.get(OID_AUTHORITY_KEY_IDENTIFIER);
  const keyId = aki === undefined ? undefined : authorityKeyIdentifier(aki);
  const san = fields.extensions.get(OID_SUBJECT_ALT_NAME);
  return {
    serial: serialHex(fields.serial),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    dnsNames: san === undefined ? [] : subjectAltDnsNames(san),
    issuer: leaf.issuer.split('\n').join(', '),
    ariCertId: keyId === undefined ? undefined : ariCertId(keyId, fields.serial),
    fingerprint256: leaf.fingerprint256,
    chainLength: pems.length,
  };
}

/** True when `privateKeyPem` is the key of the chain's leaf certificate. */
export function keyMatchesCertificate(chainPem: string, privateKeyPem: string): boolean {
  const leafPem = splitPemChain(chainPem)[0];
  if (leafPem === undefined) return false;
  try {
    return new X509Certificate(leafPem).checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch {
    return false;
  }
}

/**
 * Why the chain is not in order (each certificate signed by the next), or undefined when it is.
 * It says nothing about trust: the last certificate is not checked against any root.
 */
export function chainProblem(chainPem: string): string | undefined {
  const certs = splitPemChain(chainPem).map((pem) => new X509Certificate(pem));
  if (certs.length === 0) return 'no certificate';
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i] as X509Certificate;
    const parent = certs[i + 1] as X509Certificate;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      return `certificate ${i} (${child.subject.split('\n').join(', ')}) is not signed by certificate ${i + 1}`;
    }
  }
  return undefined;
}

/**
 * RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial INTEGER content octets), the
 * serial exactly as DER encodes it, so with its leading 0x00 when the high bit is set.
 */
export function ariCertId(keyIdentifier: Uint8Array, serialDer: Uint8Array): string {
  return `${Buffer.from(keyIdentifier).toString('base64url')}.${Buffer.from(serialDer).toString('base64url')}`;
}

function serialHex(serialDer: Uint8Array): string {
  let start = 0;
  while (start < serialDer.length - 1 && serialDer[start] === 0) start++;
  return Buffer.from(serialDer.subarray(start)).toString('hex');
}

// --- DER ---------------------------------------------------------------------------------------

/** One DER TLV: `tag` is the identifier octet, `value` the content octets. */
export interface Der {
  readonly tag: number;
  readonly value: Uint8Array;
  /** Offset just past this TLV in the buffer it was read from. */
  readonly end: number;
}

const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

const TAG = {
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  OID: 0x06,
  BOOLEAN: 0x01,
  SEQUENCE: 0x30,
  /** [0] EXPLICIT, constructed: the TBSCertificate version. */
  CONTEXT_0_CONSTRUCTED: 0xa0,
  /** [3] EXPLICIT, constructed: the TBSCertificate extensions. */
  CONTEXT_3_CONSTRUCTED: 0xa3,
  /** [0] IMPLICIT OCTET STRING: AuthorityKeyIdentifier.keyIdentifier. */
  CONTEXT_0_PRIMITIVE: 0x80,
  /** [2] IMPLICIT IA5String: GeneralName dNSName. */
  CONTEXT_2_PRIMITIVE: 0x82,
} as const;

/** Reads the TLV at `offset`. DER only: definite lengths, minimal length octets, low tag numbers. */
export function readDer(buf: Uint8Array, offset = 0): Der {
  const at = (i: number): number => {
    const byte = buf[i];
    if (byte === undefined) throw new CertificateParseError(`DER truncated at offset ${i}`);
    return byte;
  };
  const tag = at(offset);
  if ((tag & 0x1f) === 0x1f) throw new CertificateParseError(`high tag number at offset ${offset}`);
  const first = at(offset + 1);
  let length: number;
  let header = 2;
  if (first < 0x80) {
    length = first;
  } else {
    const octets = first & 0x7f;
    if (octets === 0) throw new CertificateParseError(`indefinite length at offset ${offset}`);
    if (octets > 4) throw new CertificateParseError(`length of ${octets} octets at offset ${offset}`);
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + at(offset + 2 + i);
    if (length < 0x80 || at(offset + 2) === 0) {
      throw new CertificateParseError(`non-minimal length at offset ${offset}`);
    }
    header += octets;
  }
  const start = offset + header;
  const end = start + length;
  if (end > buf.length) throw new CertificateParseError(`DER value at offset ${offset} runs past the end`);
  return { tag, value: buf.subarray(start, end), end };
}

/** The TLVs directly inside a constructed value. */
export function readChildren(value: Uint8Array): Der[] {
  const children: Der[] = [];
  for (let offset = 0; offset < value.length; ) {
    const child = readDer(value, offset);
    children.push(child);
    offset = child.end;
  }
  return children;
}

function expectTag(der: Der | undefined, tag: number, what: string): Der {
  if (der === undefined || der.tag !== tag) {
    const found = der === undefined ? 'nothing' : `tag 0x${der.tag.toString(16)}`;
    throw new CertificateParseError(`expected ${what} (tag 0x${tag.toString(16)}), found ${found}`);
  }
  return der;
}

/** Dotted OID text of an OBJECT IDENTIFIER's content octets. */
export function decodeOid(value: Uint8Array): string {
  const first = value[0];
  if (first === undefined) throw new CertificateParseError('empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let arc = 0;
  for (const byte of value) {
    arc = arc * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(arc);
      arc = 0;
    }
  }
  const head = arcs.shift() ?? 0;
  const [a, b] = head < 80 ? [Math.floor(head / 40), head % 40] : [2, head - 80];
  return [a, b, ...arcs].join('.');
}

interface TbsFields {
  /** Content octets of the serialNumber INTEGER. */
  readonly serial: Uint8Array;
  /** extnValue (the OCTET STRING's content) by extension OID. */
  readonly extensions: ReadonlyMap<string, Uint8Array>;
}

/** Serial and extensions of a DER certificate (RFC 5280 §4.1). */
export function readTbsFields(certDer: Uint8Array): TbsFields {
  const certificate = expectTag(readDer(certDer), TAG.SEQUENCE, 'Certificate');
  const [tbsDer] = readChildren(certificate.value);
  const tbs = readChildren(expectTag(tbsDer, TAG.SEQUENCE, 'TBSCertificate').value);
  let i = 0;
  if (tbs[i]?.tag === TAG.CONTEXT_0_CONSTRUCTED) i++; // version
  const serial = expectTag(tbs[i], TAG.INTEGER, 'serialNumber').value;
  const extensions = new Map<string, Uint8Array>();
  const wrapper = tbs.find((der) => der.tag === TAG.CONTEXT_3_CONSTRUCTED);
  if (wrapper !== undefined) {
    const [list] = readChildren(wrapper.value);
    for (const extension of readChildren(expectTag(list, TAG.SEQUENCE, 'Extensions').value)) {
      const parts = readChildren(expectTag(extension, TAG.SEQUENCE, 'Extension').value);
      const oid = decodeOid(expectTag(parts[0], TAG.OID, 'extnID').value);
      const last = parts[parts.length - 1];
      extensions.set(oid, expectTag(last, TAG.OCTET_STRING, 'extnValue').value);
    }
  }
  return { serial, extensions };
}

/** keyIdentifier of an AuthorityKeyIdentifier extension value (RFC 5280 §4.2.1.1), if present. */
export function authorityKeyIdentifier(extnValue: Uint8Array): Uint8Array | undefined {
  const aki = expectTag(readDer(extnValue), TAG.SEQUENCE, 'AuthorityKeyIdentifier');
  return readChildren(aki.value).find((der) => der.tag === TAG.CONTEXT_0_PRIMITIVE)?.value;
}

/** dNSName entries of a subjectAltName extension value (RFC 5280 §4.2.1.6). */
export function subjectAltDnsNames(extnValue: Uint8Array): string[] {
  const names = expectTag(readDer(extnValue), TAG.SEQUENCE, 'GeneralNames');
  return readChildren(names.value)
    .filter((der) => der.tag === TAG.CONTEXT_2_PRIMITIVE)
    .map((der) => Buffer.from(der.value).toString('latin1'));
}
