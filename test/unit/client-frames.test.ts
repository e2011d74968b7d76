import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseServerFrame } from '../../client/frames.ts';
import { CLIENT_ERRORS } from '../../client/index.ts';
import { PROTOCOL_ERRORS } from '../../daemons/app/protocol.ts';
import { flush, harness } from '../helpers/client-fakes.ts';

const OPS = ['welcome', 'subscribed', 'message', 'ack', 'error', 'refreshed', 'pong', 'unsubscribed', 'x'];

/** JSON objects shaped like server frames, with fields of any type. */
const frameLike = fc.record(
  {
    op: fc.constantFrom(...OPS),
    node: fc.jsonValue(),
    session: fc.jsonValue(),
    channel: fc.oneof(fc.constantFrom('news', 'other'), fc.jsonValue()),
    epoch: fc.oneof(fc.constant('e'), fc.jsonValue()),
    offset: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
    recovered: fc.oneof(fc.boolean(), fc.jsonValue()),
    id: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.jsonValue()),
    data: fc.jsonValue(),
    features: fc.oneof(fc.array(fc.string()), fc.jsonValue()),
    pingInterval: fc.oneof(fc.integer(), fc.jsonValue()),
    code: fc.oneof(fc.constantFrom('subscribe_failed', 'forbidden', 'publish_failed'), fc.jsonValue()),
    exp: fc.oneof(fc.integer(), fc.jsonValue()),
  },
  { requiredKeys: ['op'] },
);

describe('wsfleet/client server frames', () => {
  it('parses any text without throwing, and returns null for what is not a frame', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          frameLike.map((f) => JSON.stringify(f)),
        ),
        (text) => {
          const frame = parseServerFrame(text);
          expect(frame === null || typeof frame.op === 'string').toBe(true);
        },
      ),
    );
  });

  it.each([
    ['{"op":"message","channel":"c","offset":-1,"data":1}'],
    ['{"op":"message","channel":"c","offset":1.5,"data":1}'],
    ['{"op":"message","channel":"c","offset":1}'],
    ['{"op":"subscribed","channel":"c","epoch":"e","offset":1}'],
    ['{"op":"welcome","node":1,"session":"s"}'],
    ['{"op":"ack","channel":"c","offset":1}'],
    ['[1,2]'],
    ['null'],
  ])('refuses %s', (text) => {
    expect(parseServerFrame(text)).toBeNull();
  });

  it('keeps the client usable whatever frames a server sends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(frameLike, fc.string()), { maxLength: 30 }), async (frames) => {
        const h = await harness({}, 0);
        h.client.on('error', () => undefined);
        const sub = h.client.subscribe('news');
        sub.on('error', () => undefined);
        h.client.publish('news', 1).catch(() => undefined);
        h.socket().welcome();
        for (const frame of frames) h.socket().frame(frame);
        await flush();
        expect(['connected', 'disconnected', 'connecting']).toContain(h.client.state);
        h.client.close();
        expect(h.client.state).toBe('closed');
      }),
      { numRuns: 200 },
    );
  });

  it('names a client error code for no server error code (both reach error.code)', () => {
    const server = Object.keys(PROTOCOL_ERRORS);
    const shared = Object.keys(CLIENT_ERRORS).filter((code) => server.includes(code));
    expect(shared).toEqual([]);
  });
});
