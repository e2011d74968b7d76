import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../daemons/shared/logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { log: createLogger({ name: 'test', destination }), lines };
}

const SECRET = 'SECRET-MATERIAL-1234';

describe('logger redaction', () => {
  it.each([
    'privateKeyPem',
    'accountKeyPem',
    'keyPem',
    'eabHmacKey',
    'tokenSecret',
    'privateKey',
    'password',
  ])('never writes a field named %s, at the top or one level down', (field) => {
    const { log, lines } = capture();
    log.info({ [field]: SECRET, nested: { [field]: SECRET } }, 'an object logged by mistake');
    expect(lines.join('')).not.toContain(SECRET);
    expect(lines.join('')).toContain('[redacted]');
  });
});
