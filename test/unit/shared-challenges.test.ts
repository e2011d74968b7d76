import { describe, expect, it } from 'vitest';
import { createChallengeServer } from '../../daemons/renewer/challenge-server.ts';
import { sharedChallenges } from '../../daemons/renewer/shared-challenges.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { StoreError } from '../../daemons/shared/store/index.ts';

function setup(fail: { put?: boolean; remove?: boolean } = {}) {
  const stored = new Map<string, string>();
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({
    name: 'test',
    level: 'debug',
    destination: { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const down = () => new StoreError('WSFLEET_STORE_UNAVAILABLE', 'down', { url: 'gs://x', cause: undefined });
  const store = {
    async putChallenge(token: string, answer: string) {
      if (fail.put === true) throw down();
      stored.set(token, answer);
    },
    async removeChallenge(token: string) {
      if (fail.remove === true) throw down();
      stored.delete(token);
    },
  };
  const server = createChallengeServer({ host: '127.0.0.1', port: 0, log });
  return { stored, logs, shared: sharedChallenges(server, store, log) };
}

describe('sharedChallenges', () => {
  it('stores each answer before it resolves, and removes it again', async () => {
    const { stored, shared } = setup();
    await shared.set('tok', 'tok.thumb');
    expect(stored.get('tok')).toBe('tok.thumb');
    await shared.remove('tok');
    expect(stored.has('tok')).toBe(false);
  });

  it('stores a probe with its value, so another renewer can answer the self-check', async () => {
    const { stored, shared } = setup();
    const probe = await shared.addProbe();
    expect(stored.get(probe.token)).toBe(probe.value);
  });

  it('fails a set or a probe the store cannot take', async () => {
    const { shared, stored } = setup({ put: true });
    await expect(shared.set('tok', 'tok.thumb')).rejects.toMatchObject({ code: 'WSFLEET_STORE_UNAVAILABLE' });
    await expect(shared.addProbe()).rejects.toMatchObject({ code: 'WSFLEET_STORE_UNAVAILABLE' });
    expect(stored.size).toBe(0);
  });

  it('logs, and does not fail, a removal the store cannot take', async () => {
    const { shared, logs } = setup({ remove: true });
    await shared.set('tok', 'tok.thumb');
    await expect(shared.remove('tok')).resolves.toBeUndefined();
    expect(logs.some((l) => l.msg === 'could not remove a challenge answer from the store')).toBe(true);
  });
});
