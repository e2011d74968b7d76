import { describe, expect, it } from 'vitest';
import {
  type NginxCertificate,
  type RenderInput,
  renderNginxConf,
} from '../../daemons/cert-sync/nginx-render.ts';
import { ConfigError } from '../../daemons/shared/errors.ts';

const INPUT: RenderInput = {
  tlsDir: '/etc/wsfleet/tls',
  httpPort: 80,
  httpsPort: 443,
  appUpstream: '127.0.0.1:8080',
  renewer: '10.128.0.5:80',
  listenAddress: '*',
  accessLog: '/var/log/nginx/access.log',
};

const A = { name: 'example.com', domains: ['example.com', 'www.example.com'] };
const B = { name: 'chat.example.org', domains: ['chat.example.org'] };

/** The server blocks of a rendered file, each as its text. */
function servers(text: string): string[] {
  return text.split(/\n(?=server \{)/).filter((block) => block.startsWith('server {'));
}

function problems(input: RenderInput, certs: readonly NginxCertificate[] = [A]): string[] {
  try {
    renderNginxConf(input, certs);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
}

describe('renderNginxConf', () => {
  it('renders the HTTP-only server, and no TLS server, when there is no certificate', () => {
    const text = renderNginxConf(INPUT, []);
    const blocks = servers(text);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toContain('listen *:80 default_server;');
    expect(blocks[0]).toContain('include wsfleet/http-no-certificate.conf;');
    expect(text).not.toContain('ssl');
  });

  it('renders the upstreams and the access log from the input', () => {
    const text = renderNginxConf(INPUT, []);
    expect(text).toContain(
      'upstream wsfleet_app {\n    server 127.0.0.1:8080;\n    include wsfleet/app-upstream.conf;\n}',
    );
    expect(text).toContain('upstream wsfleet_renewer {\n    server 10.128.0.5:80;\n}');
    expect(text).toContain('access_log /var/log/nginx/access.log wsfleet_json;');
    expect(renderNginxConf({ ...INPUT, accessLog: 'off' }, [])).toContain('access_log off;');
  });

  it('renders one TLS server per certificate, the first as default_server', () => {
    const [http, first, second, ...rest] = servers(renderNginxConf(INPUT, [A, B]));
    expect(rest).toEqual([]);
    expect(http).toContain('include wsfleet/http-redirect.conf;');
    expect(http).toContain('set $wsfleet_https_port "";');
    expect(first).toContain('listen *:443 ssl http2 default_server;');
    expect(first).toContain('server_name example.com www.example.com;');
    expect(first).toContain('ssl_certificate /etc/wsfleet/tls/live/example.com/fullchain.pem;');
    expect(first).toContain('ssl_certificate_key /etc/wsfleet/tls/live/example.com/privkey.pem;');
    expect(first).toContain('include wsfleet/https.conf;');
    expect(second).toContain('listen *:443 ssl http2;');
    expect(second).toContain('server_name chat.example.org;');
  });

  it('names the HTTPS port in redirects when it is not 443, and listens where told', () => {
    const text = renderNginxConf({ ...INPUT, httpPort: 8080, httpsPort: 8443, listenAddress: '127.0.0.1' }, [
      A,
    ]);
    expect(text).toContain('set $wsfleet_https_port ":8443";');
    expect(text).toContain('listen 127.0.0.1:8080 default_server;');
    expect(text).toContain('listen 127.0.0.1:8443 ssl http2 default_server;');
  });

  it('renders the same text for the same input, so an unchanged setup is not rewritten', () => {
    expect(renderNginxConf(INPUT, [A, B])).toBe(renderNginxConf({ ...INPUT }, [{ ...A }, { ...B }]));
  });

  it.each([
    ['a path with a semicolon', { tlsDir: '/etc/tls;evil' }, /tlsDir/],
    ['a path with a variable', { tlsDir: '/etc/$host' }, /tlsDir/],
    ['a relative path', { tlsDir: 'tls' }, /tlsDir/],
    ['a path through ..', { tlsDir: '/etc/../tmp' }, /tlsDir/],
    ['a port out of range', { httpsPort: 70000 }, /httpsPort.*70000/],
    ['the same port twice', { httpsPort: 80 }, /both 80/],
    ['an upstream without a port', { appUpstream: '127.0.0.1' }, /appUpstream/],
    ['a renewer with a space', { renewer: 'renewer 80:80' }, /renewer/],
    ['an access log with a brace', { accessLog: '/var/log/{x}.log' }, /accessLog/],
    ['a listen address that is a name', { listenAddress: 'localhost' }, /listenAddress/],
  ] as const)('refuses %s', (_what, change, message) => {
    const found = problems({ ...INPUT, ...change });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it.each([
    ['a name with a semicolon', [{ name: 'a.example;', domains: ['a.example'] }], /not a valid DNS name/],
    ['a wildcard domain', [{ name: 'example.com', domains: ['*.example.com'] }], /wildcards/],
    ['a certificate without domains', [{ name: 'example.com', domains: [] }], /no domains/],
    ['a certificate listed twice', [A, A], /listed twice/],
    [
      'a domain in two certificates',
      [A, { name: 'other.example', domains: ['other.example', 'www.example.com'] }],
      /www\.example\.com is in both/,
    ],
  ] as const)('refuses %s', (_what, certs, message) => {
    expect(problems(INPUT, certs).join('\n')).toMatch(message);
  });

  it('reports every problem at once', () => {
    expect(problems({ ...INPUT, httpPort: 0, renewer: 'x' }, [{ name: 'Bad', domains: [] }])).toHaveLength(4);
  });
});
