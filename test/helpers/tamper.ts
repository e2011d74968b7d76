/**
 * A corrupt certificate that still parses: the leaf of a chain with the content octets of its
 * serial number overwritten. The serial is part of what the CA signed, so the signature no longer
 * matches, while the leaf keeps its names, dates and key — and has a serial of its own, by which a
 * refusal of exactly this certificate can be told from any other.
 */
import { randomBytes } from 'node:crypto';

/** Offset of the content of the DER element at `at`, and its length. */
function element(der: Buffer, at: number): { content: number; length: number } {
  const first = der[at + 1];
  if (first === undefined) throw new Error('truncated DER');
  if (first < 0x80) return { content: at + 2, length: first };
  const size = first & 0x7f;
  let length = 0;
  for (let i = 0; i < size; i++) length = length * 256 + (der[at + 2 + i] ?? 0);
  return { content: at + 2 + size, length };
}

/** The chain `certificatePem` with its first certificate's serial replaced by random octets. */
export function withRandomSerial(certificatePem: string): string {
  const match = /-----BEGIN CERTIFICATE-----\n([\s\S]+?)\n-----END CERTIFICATE-----/.exec(certificatePem);
  if (match?.[1] === undefined) throw new Error('no certificate in the chain');
  const der = Buffer.from(match[1].replace(/\s+/g, ''), 'base64');
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serial INTEGER, … } … }
  const tbs = element(der, 0).content;
  let at = element(der, tbs).content;
  if (der[at] === 0xa0) {
    const version = element(der, at);
    at = version.content + version.length;
  }
  if (der[at] !== 0x02) throw new Error('no serial INTEGER where the certificate has it');
  const serial = element(der, at);
  const octets = randomBytes(serial.length);
  // Positive and minimally encoded whatever the old serial was: a first octet of 0x01–0x7f.
  octets[0] = 1 + ((octets[0] ?? 0) % 0x7f);
  octets.copy(der, serial.content);
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').trimEnd();
  return certificatePem.replace(match[0], `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`);
}
