/**
 * The options every command that touches the certificate store shares (the renewer and
 * cert-sync): where the store is, and which certificates (`--cert NAME[,NAME…]`) to keep.
 */
import { z } from 'zod';
import { option, schemas } from './config.ts';
import type { CertStore } from './store/cert-store.ts';
import { createCertStore, openStore } from './store/index.ts';

/** A DNS name the renewer can get over HTTP-01: no wildcard, no IP, LDH labels. */
const DNS_NAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/;

export function nameProblem(name: string): string | undefined {
  if (name.startsWith('*.')) return `${name}: wildcards need DNS-01, which the renewer does not do`;
  if (/^[\d.]+$/.test(name) || name.includes(':'))
    return `${name}: IP addresses cannot be validated over HTTP-01`;
  if (!DNS_NAME.test(name)) return `${name}: not a valid DNS name`;
  return undefined;
}

export interface CertificateSpec {
  /** The first name: the certificate's name in the store. */
  readonly name: string;
  readonly domains: readonly string[];
}

const certs = z
  .array(z.string())
  .transform((list) =>
    list.map((entry) =>
      entry
        .split(',')
        .map((n) => n.trim().toLowerCase())
        .filter((n) => n !== ''),
    ),
  )
  .superRefine((sets, ctx) => {
    const problems = sets.flatMap((set) =>
      set.length === 0 ? ['an empty set'] : set.flatMap((n) => nameProblem(n) ?? []),
    );
    const firsts = sets.map((set) => set[0]);
    for (const [i, first] of firsts.entries()) {
      if (firsts.indexOf(first) !== i) problems.push(`${first} names two certificates`);
    }
    if (problems.length > 0) ctx.addIssue({ code: 'custom', message: problems.join('; ') });
  })
  .transform((sets): CertificateSpec[] => sets.map((domains) => ({ name: domains[0] as string, domains })))
  .default([]);

/** `--cert NAME[,NAME…]`, repeatable: the certificates to keep. */
export const certOption = option({
  schema: certs,
  description: 'A certificate: NAME[,NAME…], the first name names it (repeatable; env: space-separated)',
  expected: 'comma-separated DNS names (no wildcards, no IPs), each set with a different first name',
  kind: 'list',
});

export const storeOptions = {
  store: option({
    schema: z.string().default('file:///var/lib/wsfleet/store'),
    description: 'Certificate store: gs://bucket[/prefix] or file:///path',
    expected: 'gs://bucket[/prefix] or file:///absolute/path',
  }),
  gcsEndpoint: option({
    schema: schemas.url(['http:', 'https:']).optional(),
    description:
      "GCS JSON API endpoint for gs:// stores (unset: Google's; the lab points it at its stand-in)",
    expected: 'an http:// or https:// URL',
  }),
} as const;

/** Opens the certificate store the store flags name. */
export function openCertStore(config: { store: string; gcsEndpoint?: string | undefined }): CertStore {
  return createCertStore(
    openStore(
      config.store,
      config.gcsEndpoint === undefined ? {} : { gcs: { apiEndpoint: config.gcsEndpoint } },
    ),
  );
}
