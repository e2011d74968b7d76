/** The real dependencies of cert-sync, from its flags: the store, nginx and the trusted roots. */
import { openCertStore } from '../shared/cert-options.ts';
import type { Logger } from '../shared/logger.ts';
import type { CertSyncConfig } from './config.ts';
import type { CertSyncDeps } from './daemon.ts';
import { createNginx } from './nginx.ts';
import { loadTrustAnchors } from './trust.ts';

export async function realDeps(config: CertSyncConfig, log: Logger): Promise<CertSyncDeps> {
  const nginx = createNginx({
    confDir: config.nginxConfDir,
    tlsDir: config.dir,
    httpPort: config.httpPort,
    httpsPort: config.httpsPort,
    appUpstream: config.appUpstream,
    renewer: config.renewer,
    listenAddress: config.nginxListen,
    accessLog: config.nginxAccessLog,
    testCommand: config.nginxTest,
    reloadCommand: config.nginxReload,
    log,
  });
  return { store: openCertStore(config), nginx, log, anchors: await loadTrustAnchors(config.extraRoots) };
}
