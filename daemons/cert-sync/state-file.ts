/**
 * `<dir>/sync-state.json`: what the last sync found, per certificate (store serial and generation,
 * last sync, last refusal, what nginx served), written by the daemon and by `cert-sync sync`, read
 * by `cert-sync status` — so status works with or without a running daemon. Written atomically;
 * it holds no key material.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeAtomic } from '../shared/store/file-io.ts';
import type { Ledger } from './ledger.ts';
import type { SyncReport } from './sync.ts';
import { REFUSAL_REASONS } from './validate.ts';

const iso = z.string();

const certificateState = z.object({
  storeSerial: z.string().optional(),
  storeGeneration: z.string().optional(),
  /** Last time this certificate was found current with the store (or installed from it). */
  lastSync: iso.optional(),
  lastResult: z.string().optional(),
  lastRefusal: z
    .object({
      at: iso,
      reason: z.enum(REFUSAL_REASONS),
      detail: z.string(),
      serial: z.string().optional(),
      source: z.enum(['store', 'local']),
    })
    .optional(),
  served: z
    .object({ at: iso, status: z.string(), serial: z.string().optional(), notAfter: iso.optional() })
    .optional(),
});

export const syncStateSchema = z.object({
  format: z.literal('wsfleet.cert-sync-state/1'),
  lastAttempt: z.object({ at: iso, kind: z.string(), reachedStore: z.boolean(), ok: z.boolean() }).optional(),
  lastSuccess: iso.optional(),
  certificates: z.record(z.string(), certificateState),
});

export type SyncState = z.output<typeof syncStateSchema>;
export type CertificateState = z.output<typeof certificateState>;

export const stateFile = (dir: string) => join(dir, 'sync-state.json');

export function emptyState(): SyncState {
  return { format: 'wsfleet.cert-sync-state/1', certificates: {} };
}

/** The state file, or an empty state when it is missing or unreadable (status still shows the rest). */
export async function readSyncState(dir: string): Promise<SyncState> {
  try {
    const parsed = syncStateSchema.safeParse(JSON.parse(await readFile(stateFile(dir), 'utf8')));
    return parsed.success ? parsed.data : emptyState();
  } catch {
    return emptyState();
  }
}

export async function writeSyncState(dir: string, state: SyncState): Promise<void> {
  await writeAtomic(stateFile(dir), Buffer.from(`${JSON.stringify(state, null, 2)}\n`));
}

const SYNCED = new Set(['installed', 'current', 'unchanged']);

/** The state after `report` (undefined: only the ledger changed, e.g. a change on disk was handled). */
export function nextState(previous: SyncState, report: SyncReport | undefined, ledger: Ledger): SyncState {
  const certificates: Record<string, CertificateState> = {};
  for (const spec of ledger.certs) {
    const before = previous.certificates[spec.name] ?? {};
    const outcome = report?.certificates.find((c) => c.name === spec.name);
    const next: CertificateState = { ...before };
    if (outcome !== undefined && outcome.result !== 'failed') {
      next.storeSerial = outcome.storeSerial;
      next.storeGeneration = outcome.generation;
    }
    if (outcome !== undefined && outcome.result !== 'unchanged') next.lastResult = outcome.result;
    if (outcome !== undefined && report !== undefined && SYNCED.has(outcome.result))
      next.lastSync = report.at;
    const refusal = ledger.lastRefusal(spec.name);
    if (refusal !== undefined) next.lastRefusal = refusal;
    const served = ledger.lastServed(spec.name);
    if (served !== undefined) next.served = served;
    certificates[spec.name] = next;
  }
  return {
    format: 'wsfleet.cert-sync-state/1',
    lastAttempt:
      report === undefined
        ? previous.lastAttempt
        : { at: report.at, kind: report.kind, reachedStore: report.reachedStore, ok: report.ok },
    lastSuccess: report?.reachedStore && report.ok ? report.at : previous.lastSuccess,
    certificates,
  };
}
