/**
 * Whether nginx serves the certificate just installed: a TLS handshake with SNI = the name, retried
 * for a few seconds because after a graceful reload old workers keep answering until they drain,
 * and new connections reach new workers only gradually.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Nginx, ServedCertificate } from './nginx.ts';

/** Serials compare as numbers: case, colons and leading zeros (DER's sign byte) do not matter. */
export function sameSerial(a: string, b: string): boolean {
  const norm = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^0-9a-f]/g, '')
      .replace(/^0+/, '');
  return norm(a) === norm(b);
}

export interface ServedCheckOptions {
  readonly host: string;
  readonly port: number;
  /** Handshakes to try before giving up. */
  readonly attempts: number;
  /** Pause between attempts. */
  readonly delayMs: number;
  /** Bound of one handshake. */
  readonly timeoutMs: number;
}

export type ServedCheck =
  | { readonly status: 'ok'; readonly served: ServedCertificate }
  | { readonly status: 'old_serial'; readonly served: ServedCertificate }
  | { readonly status: 'unreachable'; readonly error: unknown };

export async function checkServed(
  nginx: Nginx,
  name: string,
  serial: string,
  options: ServedCheckOptions,
): Promise<ServedCheck> {
  let last: ServedCheck = { status: 'unreachable', error: new Error('not tried') };
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    try {
      const served = await nginx.servedCertificate({
        host: options.host,
        port: options.port,
        servername: name,
        timeoutMs: options.timeoutMs,
      });
      if (sameSerial(served.serial, serial)) return { status: 'ok', served };
      last = { status: 'old_serial', served };
    } catch (error) {
      last = { status: 'unreachable', error };
    }
    if (attempt < options.attempts) await sleep(options.delayMs);
  }
  return last;
}
