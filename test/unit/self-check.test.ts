import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ChallengeServer, createChallengeServer } from '../../daemons/renewer/challenge-server.ts';
import {
  createResolver,
  type NameResolver,
  type SelfCheckOptions,
  type SelfCheckResult,
  selfCheck,
} from '../../daemons/renewer/self-check.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { freePort } from '../helpers/net.ts';
import { type ChallTestSrv, startChallTestSrv } from '../helpers/pebble-challtestsrv.ts';

const log = createLogger({ name: 'self-check-test', level: 'silent', destination: { write() {} } });
const TIMEOUT_MS = 400;

/** What the stand-in for another server answers. */
interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

describe('selfCheck', () => {
  let dns: ChallTestSrv;
  let resolver: NameResolver;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    // Only the records a test adds exist: no default answer.
    dns = await startChallTestSrv({ defaultIPv4: '' });
    resolver = createResolver([dns.dnsServer], 1_000);
  });

  afterAll(async () => {
    await dns.stop();
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function challengeServer(host = '127.0.0.1'): Promise<{ server: ChallengeServer; port: number }> {
    const server = createChallengeServer({ host, port: 0, log });
    await server.start();
    closers.push(() => server.close());
    return { server, port: server.address()?.port ?? 0 };
  }

  /** A plain HTTP server standing in for whatever else may answer on the name. */
  async function otherServer(handler: (headers: IncomingHttpHeaders) => Answer): Promise<number> {
    const server: Server = createHttpServer((req, res) => {
      const answer = handler(req.headers);
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body ?? '');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    return (server.address() as AddressInfo).port;
  }

  /** selfCheck of `name` on `port`, through the test DNS server unless `using` says otherwise. */
  function check(name: string, port: number, challenges: SelfCheckOptions['challenges'], using = resolver) {
    return selfCheck({ name, port, challenges, resolver: using, timeoutMs: TIMEOUT_MS });
  }

  /** Checks `name`, which resolves to 127.0.0.1 where another server gives `answer`. */
  async function checkAnsweredBy(
    name: string,
    answer: Answer,
  ): Promise<{ port: number; result: SelfCheckResult }> {
    await dns.addA(name, ['127.0.0.1']);
    const port = await otherServer(() => answer);
    const { server } = await challengeServer();
    return { port, result: await check(name, port, server) };
  }

  /** Tracks probes so a test can see they are removed afterwards. */
  function tracking(server: ChallengeServer) {
    const live = new Set<string>();
    return {
      live,
      challenges: {
        addProbe: () => {
          const probe = server.addProbe();
          live.add(probe.token);
          return probe;
        },
        remove: (token: string) => {
          live.delete(token);
          server.remove(token);
        },
      },
    };
  }

  it('passes when every address of the name leads to this renewer, and removes its probe', async () => {
    await dns.addA('ok.test', ['127.0.0.1']);
    const { server, port } = await challengeServer();
    const { live, challenges } = tracking(server);
    const result = await check('ok.test', port, challenges);
    expect(result).toEqual({ ok: true, addresses: ['127.0.0.1'] });
    expect(live.size).toBe(0);
  });

  it('checks AAAA addresses too', async () => {
    await dns.addAaaa('v6.test', ['::1']);
    const { server, port } = await challengeServer('::1');
    const result = await check('v6.test', port, server);
    expect(result).toEqual({ ok: true, addresses: ['::1'] });
  });

  it('sends the name as the Host header, with the port when it is not 80', async () => {
    await dns.addA('host.test', ['127.0.0.1']);
    const seen: (string | undefined)[] = [];
    const port = await otherServer((headers) => {
      seen.push(headers.host);
      return { status: 404 };
    });
    const { server } = await challengeServer();
    await check('host.test', port, server);
    expect(seen).toEqual([`host.test:${port}`]);
  });

  describe('says where the path broke', () => {
    it('dns: the name has no A or AAAA record', async () => {
      const { server, port } = await challengeServer();
      const result = await check('none.test', port, server);
      expect(result).toEqual({ ok: false, stage: 'dns', detail: 'none.test has no A or AAAA record' });
    });

    it('dns: the DNS server does not answer', async () => {
      const silent: UdpSocket = createSocket('udp4');
      silent.bind(0, '127.0.0.1');
      await once(silent, 'listening');
      closers.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
      const deaf = createResolver([`127.0.0.1:${silent.address().port}`], 200);
      const { server, port } = await challengeServer();
      const started = Date.now();
      const result = await check('ok.test', port, server, deaf);
      expect(result).toEqual({ ok: false, stage: 'dns', detail: 'DNS lookup of ok.test timed out' });
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('connect: nothing listens on the port', async () => {
      await dns.addA('refused.test', ['127.0.0.1']);
      const { server } = await challengeServer();
      const port = await freePort();
      const result = await check('refused.test', port, server);
      expect(result).toEqual({
        ok: false,
        stage: 'connect',
        address: '127.0.0.1',
        detail: `connection refused by 127.0.0.1:${port}`,
      });
    });

    it('connect: one of several addresses does not lead here', async () => {
      await dns.addA('two.test', ['127.0.0.1', '127.0.0.2']);
      const { server, port } = await challengeServer('127.0.0.1');
      const result = await check('two.test', port, server);
      expect(result).toMatchObject({ ok: false, stage: 'connect', address: '127.0.0.2' });
    });

    it('timeout: the server accepts the connection but never answers', async () => {
      await dns.addA('silent.test', ['127.0.0.1']);
      const sockets = new Set<Socket>();
      const tcp: TcpServer = createTcpServer((socket) => sockets.add(socket));
      tcp.listen(0, '127.0.0.1');
      await once(tcp, 'listening');
      closers.push(async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
      });
      const port = (tcp.address() as AddressInfo).port;
      const { server } = await challengeServer();
      const started = Date.now();
      const result = await check('silent.test', port, server);
      expect(result).toEqual({
        ok: false,
        stage: 'timeout',
        address: '127.0.0.1',
        detail: `127.0.0.1:${port} accepted the connection but sent no complete answer within ${TIMEOUT_MS} ms`,
      });
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1_000);
    });

    it('http: another server answers 404, naming its Server header', async () => {
      const { port, result } = await checkAnsweredBy('nginx.test', {
        status: 404,
        headers: { server: 'nginx/1.22.1' },
        body: 'Not Found',
      });
      expect(result).toEqual({
        ok: false,
        stage: 'http',
        address: '127.0.0.1',
        detail: `HTTP 404 from 127.0.0.1:${port} (server: nginx/1.22.1)`,
      });
    });

    it('http: another renewer answers, which does not hold our probe', async () => {
      await dns.addA('other-renewer.test', ['127.0.0.1']);
      const { port } = await challengeServer();
      const { server: ours } = await challengeServer();
      const result = await check('other-renewer.test', port, ours);
      expect(result).toMatchObject({ ok: false, stage: 'http', detail: `HTTP 404 from 127.0.0.1:${port}` });
    });

    it('http: a redirect is reported as a redirect, not followed', async () => {
      const { port, result } = await checkAnsweredBy('redirect.test', {
        status: 301,
        headers: { location: 'https://redirect.test/.well-known/acme-challenge/x' },
      });
      expect(result).toEqual({
        ok: false,
        stage: 'http',
        address: '127.0.0.1',
        detail: `HTTP 301 redirect from 127.0.0.1:${port} to https://redirect.test/.well-known/acme-challenge/x`,
      });
    });

    it('mismatch: something answers 200 with another body', async () => {
      const { port, result } = await checkAnsweredBy('catchall.test', {
        status: 200,
        headers: { server: 'app' },
        body: '<html>welcome</html>',
      });
      expect(result).toMatchObject({ ok: false, stage: 'mismatch', address: '127.0.0.1' });
      expect(result.ok === false && result.detail).toBe(
        `127.0.0.1:${port} (server: app) answered "<html>welcome</html>", not this renewer's probe: the name or the load balancer leads to another server`,
      );
    });
  });

  it('removes its probe when the check fails too', async () => {
    await dns.addA('fails.test', ['127.0.0.1']);
    const port = await otherServer(() => ({ status: 500 }));
    const { server } = await challengeServer();
    const { live, challenges } = tracking(server);
    const result = await check('fails.test', port, challenges);
    expect(result).toMatchObject({ ok: false, stage: 'http' });
    expect(live.size).toBe(0);
  });
});
