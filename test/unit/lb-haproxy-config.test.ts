/** The lab load balancer's haproxy configuration, as text (test/integration/lb-haproxy.test.ts runs it). */
import { describe, expect, it } from 'vitest';
import { haproxyArgs, type LbSettings, renderHaproxyConfig } from '../../scripts/lab/haproxy.ts';

const SETTINGS: LbSettings = {
  vip: '10.213.0.2',
  ports: [80, { listen: 443, backend: 8443 }],
  healthPort: 80,
  healthPath: '/healthz',
  healthIntervalMs: 1_000,
  backends: [
    { name: 'app-1', id: 1, address: '10.213.0.11' },
    { name: 'app-2', id: 7, address: '10.213.0.12' },
  ],
  adminSocket: '/run/wsfleet-lab/haproxy.sock',
  pidFile: '/run/wsfleet-lab/haproxy.pid',
  stateFile: '/run/wsfleet-lab/haproxy.state',
};

describe('renderHaproxyConfig', () => {
  const config = renderHaproxyConfig(SETTINGS);
  const lines = config.split('\n').map((l) => l.trim());

  it('passes TCP through on each port to the same VMs, with client-IP affinity that survives reloads', () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        'mode tcp',
        'balance source',
        'hash-type consistent',
        'listen port-80',
        'bind 10.213.0.2:80',
        'server app-2 10.213.0.12:80 id 7 track health/app-2',
        'listen port-443',
        'bind 10.213.0.2:443',
        'server app-1 10.213.0.11:8443 id 1 track health/app-1',
      ]),
    );
  });

  it('checks each VM once over HTTP, for every port', () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        'backend health',
        'option httpchk',
        'http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 10.213.0.2',
        'http-check expect status 200',
        'default-server check port 80 inter 1000ms fall 2 rise 2',
        'server app-1 10.213.0.11:80 id 1',
      ]),
    );
  });

  it('keeps hour-long WebSockets, and serves its admin socket only on a file', () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        'timeout connect 5s',
        'timeout client 1h',
        'timeout server 1h',
        'timeout tunnel 1h',
        'stats socket /run/wsfleet-lab/haproxy.sock mode 600 level admin',
        'server-state-file /run/wsfleet-lab/haproxy.state',
        'load-server-state-from-file global',
      ]),
    );
    expect(config).not.toMatch(/stats (enable|uri)|^\s*log /m);
  });

  it('leaves the state file out when none is named', () => {
    const { stateFile: _, ...rest } = SETTINGS;
    expect(renderHaproxyConfig(rest)).not.toContain('server-state');
  });

  it('refuses settings that are not safe to write into the file, listing every problem', () => {
    const bad: LbSettings = {
      ...SETTINGS,
      vip: '10.213.0.2\n    stats enable',
      ports: [70000],
      healthPath: '/healthz ver',
      backends: [
        { name: 'app 1', id: 1, address: '10.213.0.11' },
        { name: 'app-2', id: 1, address: 'vm.example' },
      ],
      adminSocket: 'relative.sock',
    };
    expect(() => renderHaproxyConfig(bad)).toThrow(
      expect.objectContaining({
        code: 'WSFLEET_LAB_SERVICE',
        message: expect.stringMatching(
          /vip[\s\S]*port[\s\S]*healthPath[\s\S]*"app 1"[\s\S]*vm\.example[\s\S]*id repeats[\s\S]*adminSocket/,
        ),
      }),
    );
  });
});

describe('haproxyArgs', () => {
  it('runs master and worker in the foreground, so SIGUSR2 to the master reloads', () => {
    expect(haproxyArgs('/x/haproxy.cfg')).toEqual(['-W', '-db', '-f', '/x/haproxy.cfg']);
  });
});
