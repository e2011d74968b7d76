/**
 * A certificate chain for a cert-sync test file: a root, an intermediate, current leaves and one
 * expired leaf for the same names, with the factory that made them (for leaves of its own) and a
 * close() that removes the factory's files.
 */
import { type Authority, type CertFactory, createCertFactory, type Leaf } from './certs.ts';

const DAY = 86_400_000;

export interface CertChain {
  readonly factory: CertFactory;
  /** The root: what cert-sync is told to trust. */
  readonly rootPem: string;
  readonly intermediate: Authority;
  /** Leaves valid now, in the order they were made. */
  readonly leaves: readonly Leaf[];
  /** A leaf whose validity ended a day ago. */
  readonly expired: Leaf;
  close(): Promise<void>;
}

/** A new factory, and from it `<label> Root`, `<label> R1`, `count` current leaves and one expired. */
export async function openCertChain(
  label: string,
  names: readonly string[],
  count: number,
): Promise<CertChain> {
  const factory = await createCertFactory();
  try {
    const root = await factory.root(`${label} Root`);
    const intermediate = await factory.intermediate(root, `${label} R1`);
    const leaves: Leaf[] = [];
    for (let i = 0; i < count; i++) leaves.push(await factory.leaf(intermediate, [...names]));
    const expired = await factory.leaf(intermediate, [...names], {
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    return { factory, rootPem: root.certPem, intermediate, leaves, expired, close: () => factory.close() };
  } catch (err) {
    await factory.close();
    throw err;
  }
}
