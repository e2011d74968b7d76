/**
 * Reading testssl's verdict: which findings are about the server under test and which about the
 * machine that runs the scan. testssl writes problems of its own environment (its openssl has no
 * GOST engine, is too old, …) through one function, `fileout_insert_warning` — its source calls
 * them "client side" warnings — with the same WARN severity as a check of the server that could
 * not run. A newer openssl or testssl on a fresh machine adds or drops such warnings, so the ids
 * are read from the installed testssl itself, with the ones known today as a floor.
 */
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';

/** One entry of testssl's flat JSON output (--jsonfile). */
export interface Finding {
  readonly id: string;
  readonly severity: string;
  readonly finding: string;
}

/** testssl 3.0.8's own-environment warnings: engine_problem, old_fart, too_old_openssl. */
export const KNOWN_SCANNER_IDS: ReadonlySet<string> = new Set([
  'engine_problem',
  'old_fart',
  'too_old_openssl',
]);

/** The ids a testssl script passes to `fileout_insert_warning`. */
export function scannerIdsInSource(source: string): Set<string> {
  const ids = new Set<string>();
  for (const match of source.matchAll(/^\s*fileout_insert_warning\s+"([A-Za-z0-9_]+)"/gm)) {
    if (match[1] !== undefined) ids.add(match[1]);
  }
  return ids;
}

/** The scanner-environment ids of the testssl on PATH, and the known ones. */
export async function scannerIds(): Promise<Set<string>> {
  const ids = new Set(KNOWN_SCANNER_IDS);
  const which = await execa('sh', ['-c', 'command -v testssl'], { reject: false });
  const path = which.stdout.trim();
  if (which.exitCode === 0 && path !== '') {
    const source = await readFile(path, 'utf8').catch(() => '');
    for (const id of scannerIdsInSource(source)) ids.add(id);
  }
  return ids;
}

/**
 * A check of the server that testssl skipped because its own openssl lacks something: it writes
 * these under the check's own id, as WARN, naming its local openssl ("not tested due to lack of
 * local support", "$OPENSSL lacks zlib support", "RC4 ciphers not supported by local OpenSSL").
 * A connection or handshake that failed is about the server and does not match.
 */
const LOCAL_LACK = [
  /\black of local support\b/i,
  /\bnot supported by local openssl\b/i,
  /\blocal ciphers only\b/i,
  /\bopenssl\S*\s+(?:lacks|does not support|doesn't support|doesn't have|cannot test)\b/i,
];

/** Whether a finding is about the scanning machine rather than the server. */
export function aboutScanner(finding: Finding, scannerIds: ReadonlySet<string>): boolean {
  if (scannerIds.has(finding.id)) return true;
  return finding.severity === 'WARN' && LOCAL_LACK.some((re) => re.test(finding.finding));
}

/** Splits the findings into those about the server and those about the scanning machine. */
export function splitFindings(
  findings: readonly Finding[],
  scannerIds: ReadonlySet<string>,
): { server: Finding[]; scanner: Finding[] } {
  return {
    server: findings.filter((f) => !aboutScanner(f, scannerIds)),
    scanner: findings.filter((f) => aboutScanner(f, scannerIds)),
  };
}
