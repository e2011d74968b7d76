import { describe, expect, it } from 'vitest';
import { createMemoryBroker, EPOCH_RETENTION_TTLS } from '../../daemons/app/memory-broker.ts';

describe('createMemoryBroker', () => {
  it('forgets channels idle past the retention, so memory follows the channels in use', async () => {
    let now = 1_000_000;
    const ttl = 1_000;
    const broker = createMemoryBroker({ historySize: 10, historyTtlMs: ttl }, () => now);
    await broker.start({ publication() {}, reset() {} });
    const old = await broker.publish('old-0', '1');
    for (let i = 1; i < 5_000; i++) await broker.publish(`old-${i}`, '1');
    expect(broker.channelCount).toBe(5_000);

    now += ttl * EPOCH_RETENTION_TTLS + 1;
    await broker.publish('fresh', '1');
    expect(broker.channelCount).toBe(1);
    // Forgotten: its offsets restart, so in an epoch of their own.
    const again = await broker.publish('old-0', '2');
    expect(again.offset).toBe(1);
    expect(again.epoch).not.toBe(old.epoch);
    expect(await broker.history('old-0', 1, old.epoch)).toMatchObject({
      recovered: false,
      reason: 'epoch_changed',
    });
  });

  it('keeps the epoch and counter of a channel idle past its history TTL but within the retention', async () => {
    let now = 1_000_000;
    const broker = createMemoryBroker({ historySize: 10, historyTtlMs: 1_000 }, () => now);
    await broker.start({ publication() {}, reset() {} });
    const first = await broker.publish('c', '1');
    now += 5_000;
    expect(await broker.history('c', 0, first.epoch)).toMatchObject({ recovered: false, reason: 'too_old' });
    expect(await broker.publish('c', '2')).toEqual({ epoch: first.epoch, offset: 2 });
  });
});
