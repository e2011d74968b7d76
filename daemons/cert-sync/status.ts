/**
 * What `wsfleet cert-sync status` shows per certificate: what is installed under `<dir>/live/`,
 * what the store has now, what nginx serves, and the daemon's last sync and refusal (from its
 * state file). Read directly, so it works with or without a running daemon.
 */
import { certificateInfo } from '../shared/certificate-info.ts';
import type { CertStore } from '../shared/store/cert-store.ts';
import { liveVersion, readLive } from './install.ts';
import type { ServedCertificate } from './nginx.ts';
import { sameSerial } from './served.ts';
import type { CertificateState, SyncState } from './state-file.ts';

export interface CertificateStatus {
  readonly name: string;
  readonly installed:
    | {
        readonly serial: string;
        readonly notAfter: string;
        readonly names: readonly string[];
        readonly version?: string;
      }
    | { readonly error: string }
    | null;
  readonly store:
    | { readonly serial: string; readonly generation: string }
    | { readonly error: string }
    | null;
  readonly served: { readonly serial: string; readonly notAfter: string } | { readonly error: string };
  readonly lastSync: string | null;
  readonly lastResult: string | null;
  readonly lastRefusal: CertificateState['lastRefusal'] | null;
}

export interface StatusSources {
  readonly dir: string;
  readonly store: CertStore;
  readonly served: (name: string) => Promise<ServedCertificate>;
  readonly state: SyncState;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function installed(dir: string, name: string): Promise<CertificateStatus['installed']> {
  const bundle = await readLive(dir, name);
  if (bundle === undefined) return null;
  try {
    const info = certificateInfo(bundle.certificatePem);
    const version = await liveVersion(dir, name);
    return {
      serial: info.serial,
      notAfter: info.notAfter.toISOString(),
      names: info.dnsNames,
      ...(version === undefined ? {} : { version }),
    };
  } catch (err) {
    return { error: `live/${name}/fullchain.pem does not parse: ${message(err)}` };
  }
}

export async function readStatus(
  names: readonly string[],
  sources: StatusSources,
): Promise<CertificateStatus[]> {
  return Promise.all(
    names.map(async (name): Promise<CertificateStatus> => {
      const recorded = sources.state.certificates[name];
      const [local, store, served] = await Promise.all([
        installed(sources.dir, name),
        sources.store.current(name).then(
          (c) => (c === undefined ? null : { serial: c.certificate.serial, generation: c.generation }),
          (err: unknown) => ({ error: message(err) }),
        ),
        sources.served(name).then(
          (s) => ({ serial: s.serial, notAfter: new Date(s.notAfter).toISOString() }),
          (err: unknown) => ({ error: message(err) }),
        ),
      ]);
      return {
        name,
        installed: local,
        store,
        served,
        lastSync: recorded?.lastSync ?? null,
        lastResult: recorded?.lastResult ?? null,
        lastRefusal: recorded?.lastRefusal ?? null,
      };
    }),
  );
}

/** The human-readable form of `cert-sync status`. */
export function formatStatus(statuses: readonly CertificateStatus[]): string {
  if (statuses.length === 0) return 'No certificates configured or installed.\n';
  return statuses
    .map((s) => {
      const lines = [s.name];
      const i = s.installed;
      if (i === null) lines.push('  installed:    none (nginx serves HTTP only for it)');
      else if ('error' in i) lines.push(`  installed:    ${i.error}`);
      else {
        lines.push(`  installed:    serial ${i.serial}, valid until ${i.notAfter}`);
        lines.push(`  names:        ${i.names.join(', ')}`);
      }
      const st = s.store;
      if (st === null) lines.push('  store:        none yet');
      else if ('error' in st) lines.push(`  store:        unreachable: ${st.error}`);
      else {
        const same = i !== null && !('error' in i) && sameSerial(i.serial, st.serial);
        lines.push(
          `  store:        serial ${st.serial} (generation ${st.generation})${same ? ', installed' : ''}`,
        );
      }
      if ('error' in s.served) lines.push(`  served:       unknown: ${s.served.error}`);
      else {
        const same = i !== null && !('error' in i) && sameSerial(i.serial, s.served.serial);
        lines.push(
          `  served:       serial ${s.served.serial}${same ? ' (the installed one)' : ' (NOT the installed one)'}`,
        );
      }
      lines.push(
        `  last sync:    ${s.lastSync ?? 'never'}${s.lastResult === null ? '' : ` (${s.lastResult})`}`,
      );
      const r = s.lastRefusal;
      if (r != null)
        lines.push(
          `  last refusal: ${r.at} ${r.reason}${r.serial === undefined ? '' : ` serial ${r.serial}`} (${r.source}): ${r.detail}`,
        );
      return lines.join('\n');
    })
    .join('\n\n')
    .concat('\n');
}
