/** The certificate store: object stores with generations, and the CertStore built on them. */

export type {
  AcmeAccount,
  CertificateVersion,
  CertStore,
  CurrentCertificate,
  Lease,
  RenewerState,
} from './cert-store.ts';
export type { CertStoreOptions } from './cert-store-impl.ts';
export { createCertStore } from './cert-store-impl.ts';
export { createFileStore, type FileStoreOptions } from './file-store.ts';
export { createGcsClient, createGcsStore, type GcsRetryOptions, type GcsStoreOptions } from './gcs-store.ts';
export type { ObjectMeta, ObjectStore, StoredObject, WriteOptions } from './object-store.ts';
export { type OpenStoreOptions, openStore } from './open-store.ts';
export { isStoreError, StoreError, type StoreErrorCode } from './store-error.ts';
