import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../daemons/shared/logger.ts';
import { createNotifier, watchdogInterval } from '../../daemons/shared/notify.ts';
import { type NotifySocket, startNotifySocket } from '../helpers/notify-socket.ts';
import { waitFor } from '../helpers/wait.ts';

function quietLogger() {
  return createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
}

describe('Notifier', () => {
  let socket: NotifySocket | undefined;
  afterEach(async () => {
    await socket?.close();
    socket = undefined;
  });

  it('sends READY, STATUS and STOPPING through systemd-notify, in order', async () => {
    socket = await startNotifySocket();
    const notifier = createNotifier({ log: quietLogger(), env: { NOTIFY_SOCKET: socket.path } });
    expect(notifier.enabled).toBe(true);
    await notifier.ready('serving on 127.0.0.1:8080');
    await notifier.status('broker unreachable');
    await notifier.stopping('stopping: SIGTERM');
    notifier.close();
    const messages = socket.messages.map((m) =>
      m
        .split('\n')
        .filter((l) => !l.startsWith('BARRIER='))
        .join('\n'),
    );
    expect(messages.filter((m) => m !== '')).toEqual([
      'READY=1\nSTATUS=serving on 127.0.0.1:8080',
      'STATUS=broker unreachable',
      'STOPPING=1\nSTATUS=stopping: SIGTERM',
    ]);
  });

  it('pings the watchdog at half of WATCHDOG_USEC once ready', async () => {
    socket = await startNotifySocket();
    const notifier = createNotifier({
      log: quietLogger(),
      env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '200000' },
    });
    await notifier.ready();
    const s = socket;
    await waitFor(
      () => s.messages.filter((m) => m.startsWith('WATCHDOG=1')).length >= 2,
      5_000,
      'two watchdog pings',
    );
    notifier.close();
  });

  it('is a no-op outside systemd', async () => {
    const notifier = createNotifier({ log: quietLogger(), env: {}, command: '/nonexistent/systemd-notify' });
    expect(notifier.enabled).toBe(false);
    await notifier.ready('x');
    await notifier.stopping();
    notifier.close();
  });

  describe('#watchdogInterval', () => {
    it.each([
      [{}, undefined],
      [{ WATCHDOG_USEC: '30000000' }, 15_000],
      [{ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 15_000],
      [{ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, undefined],
      [{ WATCHDOG_USEC: 'abc' }, undefined],
      [{ WATCHDOG_USEC: '0' }, undefined],
    ])('for %j is %s', (env, expected) => {
      expect(watchdogInterval(env, 42)).toBe(expected);
    });
  });
});
