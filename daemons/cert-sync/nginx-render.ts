/**
 * The one generated nginx file, `<confDir>/wsfleet.conf`: every value of the app VM's nginx
 * configuration that varies per deployment, around `include`s of the static, reviewed snippets
 * (images/app/nginx/wsfleet/). Pure: typed input in, text out, every problem reported at once.
 *
 * Values are checked against tight character sets rather than quoted: nginx would expand a `$`
 * even inside quotes (ssl_certificate takes variables), and a stray `;` or `{` would change the
 * configuration's structure.
 */
import { nameProblem } from '../shared/cert-options.ts';
import { ConfigError } from '../shared/errors.ts';

/** The generated file's name inside `confDir` (nginx.conf includes `conf.d/wsfleet.conf`). */
export const GENERATED_FILE = 'wsfleet.conf';

/** A certificate to serve: `<tlsDir>/live/<name>/{fullchain,privkey}.pem`, for `domains` by SNI. */
export interface NginxCertificate {
  readonly name: string;
  readonly domains: readonly string[];
}

export interface RenderInput {
  /** Installed certificates live in `<tlsDir>/live/<name>/`. */
  readonly tlsDir: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** `host:port` of the app daemon. */
  readonly appUpstream: string;
  /** `host:port` of the renewer's challenge server. */
  readonly renewer: string;
  /** IPv4 address, `[IPv6]` or `*` (every address) to listen on. */
  readonly listenAddress: string;
  /** Absolute path of the JSON access log, or `off`. */
  readonly accessLog: string;
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;
const LISTEN_ADDRESS = /^(\*|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\])$/;
/** Absolute paths made of characters nginx takes literally. */
const SAFE_PATH = /^\/[A-Za-z0-9._@+/-]*$/;

function hostPortProblem(what: string, value: string): string | undefined {
  const port = Number(HOST_PORT.exec(value)?.[2]);
  return port >= 1 && port <= 65535
    ? undefined
    : `Expected ${what} to be host:port, got ${JSON.stringify(value)}`;
}

function portProblem(what: string, value: number): string | undefined {
  return Number.isInteger(value) && value >= 1 && value <= 65535
    ? undefined
    : `Expected ${what} to be an integer from 1 to 65535, got ${value}`;
}

function pathProblem(what: string, value: string): string | undefined {
  return SAFE_PATH.test(value) && !value.split('/').includes('..')
    ? undefined
    : `Expected ${what} to be an absolute path of letters, digits and ._@+/-, got ${JSON.stringify(value)}`;
}

/** Every problem with the deployment's values; empty when they can be rendered. */
export function inputProblems(input: RenderInput): string[] {
  const problems = [
    pathProblem('tlsDir', input.tlsDir),
    portProblem('httpPort', input.httpPort),
    portProblem('httpsPort', input.httpsPort),
    hostPortProblem('appUpstream', input.appUpstream),
    hostPortProblem('renewer', input.renewer),
    LISTEN_ADDRESS.test(input.listenAddress)
      ? undefined
      : `Expected listenAddress to be an IPv4 address, [IPv6] or *, got ${JSON.stringify(input.listenAddress)}`,
    input.accessLog === 'off' ? undefined : pathProblem('accessLog', input.accessLog),
    input.httpPort === input.httpsPort ? `httpPort and httpsPort are both ${input.httpPort}` : undefined,
  ];
  return problems.filter((p) => p !== undefined);
}

/** Every problem with a list of certificates; empty when they can be rendered. */
export function certificateProblems(certs: readonly NginxCertificate[]): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const domains = new Map<string, string>();
  for (const cert of certs) {
    const problem = nameProblem(cert.name);
    if (problem !== undefined) problems.push(`certificate name ${problem}`);
    if (names.has(cert.name)) problems.push(`certificate ${cert.name} is listed twice`);
    names.add(cert.name);
    if (cert.domains.length === 0) problems.push(`certificate ${cert.name} has no domains`);
    for (const domain of cert.domains) {
      const domainProblem = nameProblem(domain);
      if (domainProblem !== undefined) problems.push(`certificate ${cert.name}: ${domainProblem}`);
      const owner = domains.get(domain);
      // nginx would only warn ("conflicting server name") and serve the first one.
      if (owner !== undefined && owner !== cert.name)
        problems.push(`${domain} is in both certificate ${owner} and certificate ${cert.name}`);
      domains.set(domain, cert.name);
    }
  }
  return problems;
}

function listen(input: RenderInput, port: number): string {
  return `${input.listenAddress}:${port}`;
}

function httpServer(input: RenderInput, withCertificates: boolean): string[] {
  const lines = [
    'server {',
    `    listen ${listen(input, input.httpPort)} default_server;`,
    '    server_name _;',
  ];
  if (withCertificates) {
    // The redirect's target port: browsers drop ":443" themselves, other ports must be named.
    const suffix = input.httpsPort === 443 ? '' : `:${input.httpsPort}`;
    lines.push(`    set $wsfleet_https_port "${suffix}";`, '    include wsfleet/http-redirect.conf;');
  } else {
    lines.push('    include wsfleet/http-no-certificate.conf;');
  }
  lines.push('}');
  return lines;
}

function tlsServer(input: RenderInput, cert: NginxCertificate, first: boolean): string[] {
  const live = `${input.tlsDir.replace(/\/+$/, '')}/live/${cert.name}`;
  return [
    `# Certificate ${cert.name}${first ? ' (default: also for clients that send no or an unknown SNI name)' : ''}`,
    'server {',
    `    listen ${listen(input, input.httpsPort)} ssl http2${first ? ' default_server' : ''};`,
    `    server_name ${cert.domains.join(' ')};`,
    `    ssl_certificate ${live}/fullchain.pem;`,
    `    ssl_certificate_key ${live}/privkey.pem;`,
    '    include wsfleet/https.conf;',
    '}',
  ];
}

/**
 * The text of the generated file: upstreams, the access log, the port-80 server (HTTP-only
 * when `certs` is empty, redirecting otherwise) and one TLS server per certificate, the first
 * as default_server. Throws ConfigError (WSFLEET_CONFIG_INVALID) listing every problem.
 */
export function renderNginxConf(input: RenderInput, certs: readonly NginxCertificate[]): string {
  const problems = [...inputProblems(input), ...certificateProblems(certs)];
  if (problems.length > 0) throw new ConfigError(problems);
  const lines = [
    '# Generated by wsfleet cert-sync from its configuration and the installed certificates;',
    '# rewritten on every change, so edit the static files in ../wsfleet/ or the flags instead.',
    certs.length === 0
      ? '# Mode: HTTP only (no certificate installed yet).'
      : `# Mode: HTTPS for ${certs.map((c) => c.name).join(', ')}.`,
    '',
    `access_log ${input.accessLog}${input.accessLog === 'off' ? '' : ' wsfleet_json'};`,
    '',
    'upstream wsfleet_app {',
    `    server ${input.appUpstream};`,
    '    include wsfleet/app-upstream.conf;',
    '}',
    '',
    'upstream wsfleet_renewer {',
    `    server ${input.renewer};`,
    '}',
    '',
    ...httpServer(input, certs.length > 0),
  ];
  certs.forEach((cert, i) => {
    lines.push('', ...tlsServer(input, cert, i === 0));
  });
  lines.push('');
  return lines.join('\n');
}
