import { describe, expect, it } from 'vitest';
import {
  type Finding,
  KNOWN_SCANNER_IDS,
  scannerIds,
  scannerIdsInSource,
  splitFindings,
} from '../helpers/testssl.ts';

describe('testssl findings', () => {
  it('reads the own-environment warning ids from a testssl script', () => {
    const source = [
      'initialize_engine(){',
      '          fileout_insert_warning "engine_problem" "WARN" "No engine or GOST support via engine with your $OPENSSL"',
      '     fileout_insert_warning "new_scanner_id" "WARN" "something about this machine"',
      '     fileout "cipher_order" "HIGH" "server does not prioritize"',
      '     fileout "scanProblem" "WARN" "$1"',
      '}',
    ].join('\n');
    expect([...scannerIdsInSource(source)].sort()).toEqual(['engine_problem', 'new_scanner_id']);
  });

  it('knows the installed testssl’s own-environment warnings', async () => {
    const ids = await scannerIds();
    for (const id of KNOWN_SCANNER_IDS) expect(ids).toContain(id);
    // A finding about the server, or a check of it that could not run, is never among them.
    for (const id of ['scanProblem', 'cipher_order', 'HSTS', 'cert_chain_of_trust', 'ALPN'])
      expect(ids).not.toContain(id);
  });

  it('keeps every finding about the server, whatever its severity, and sets the scanner’s apart', () => {
    const findings: Finding[] = [
      {
        id: 'engine_problem',
        severity: 'WARN',
        finding: 'No engine or GOST support via engine with your /usr/bin/openssl',
      },
      { id: 'BREACH', severity: 'MEDIUM', finding: 'potentially VULNERABLE, gzip HTTP compression detected' },
      { id: 'scanProblem', severity: 'WARN', finding: 'connect problem' },
      { id: 'TLS1_3', severity: 'OK', finding: 'offered with final' },
    ];
    const split = splitFindings(findings, KNOWN_SCANNER_IDS);
    expect(split.scanner.map((f) => f.id)).toEqual(['engine_problem']);
    expect(split.server.map((f) => f.id)).toEqual(['BREACH', 'scanProblem', 'TLS1_3']);
  });

  it.each([
    ['CRIME_TLS', 'CRIME, TLS: Not tested. /usr/bin/openssl lacks zlib support'],
    ['RC4', 'RC4 ciphers not supported by local OpenSSL (/usr/bin/openssl)'],
    ['cipher-tls1_2_xc013', 'not tested due to lack of local support'],
    ['fallback_SCSV', '/usr/bin/openssl lacks TLS_FALLBACK_SCSV support'],
    ['NPN', "not tested /usr/bin/openssl doesn't support NPN/SPDY"],
    ['secure_client_renego', 'your /usr/bin/openssl cannot test this secure renegotiation vulnerability'],
  ])('sets apart a check of %s skipped for lack of local openssl support', (id, finding) => {
    const split = splitFindings([{ id, severity: 'WARN', finding }], new Set());
    expect(split.scanner).toHaveLength(1);
    expect(split.server).toEqual([]);
  });

  it.each([
    ['clientProblem1', 'WARN', 'Your OpenSSL cannot connect to 127.0.0.1:443.'],
    ['secure_renego', 'WARN', "OpenSSL handshake didn't succeed"],
    ['RC4', 'HIGH', 'VULNERABLE (NOT ok): TLS_ECDHE_RSA_WITH_RC4_128_SHA, not supported by local OpenSSL'],
    ['scanProblem', 'FATAL', 'lack of local support'],
  ])(
    'keeps %s (%s) about the server: a failed connection, or a finding that is not a skipped check',
    (id, severity, finding) => {
      const split = splitFindings([{ id, severity, finding }], new Set());
      expect(split.server).toHaveLength(1);
    },
  );
});
