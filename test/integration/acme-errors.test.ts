import { describe, expect, it } from 'vitest';
import {
  AcmeError,
  classifyAcmeError,
  isPermanentProblem,
  parseRetryAfter,
} from '../../daemons/renewer/acme-errors.ts';

const URN = 'urn:ietf:params:acme:error:';

function axiosError(fields: {
  code?: string;
  status?: number;
  data?: unknown;
  headers?: Record<string, string>;
}) {
  return Object.assign(new Error(fields.code ?? `Request failed with status code ${fields.status}`), {
    isAxiosError: true as const,
    code: fields.code,
    config: { url: 'https://ca.test/acme/new-order' },
    response:
      fields.status === undefined
        ? undefined
        : { status: fields.status, headers: fields.headers ?? {}, data: fields.data },
  });
}

describe('acme-errors', () => {
  describe('isPermanentProblem', () => {
    it.each([
      ['unauthorized', true],
      ['rejectedIdentifier', true],
      ['malformed', true],
      ['badCSR', true],
      ['caa', true],
      ['invalidContact', true],
      ['unsupportedIdentifier', true],
      ['externalAccountRequired', true],
      ['rateLimited', false],
      ['serverInternal', false],
      ['badNonce', false],
      ['connection', false],
      ['dns', false],
      ['orderNotReady', false],
      ['somethingNew', false],
    ])('%s → permanent: %s', (type, permanent) => {
      expect(isPermanentProblem({ type: `${URN}${type}` })).toBe(permanent);
    });

    it('treats a compound problem as permanent when any subproblem is', () => {
      const transient = { type: `${URN}rateLimited` };
      const permanent = { type: `${URN}rejectedIdentifier` };
      expect(isPermanentProblem({ type: `${URN}compound`, subproblems: [transient, permanent] })).toBe(true);
      expect(isPermanentProblem({ type: `${URN}compound`, subproblems: [transient] })).toBe(false);
    });
  });

  describe('parseRetryAfter', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    it.each([
      ['120', 120_000],
      ['0', 0],
      ['Tue, 01 Jan 2030 00:10:00 GMT', 600_000],
      ['Mon, 31 Dec 2029 23:00:00 GMT', 0],
      ['soon', undefined],
      [undefined, undefined],
    ])('reads %j as %j ms', (header, ms) => {
      expect(parseRetryAfter(header, now)).toBe(ms);
    });
  });

  describe('classifyAcmeError', () => {
    it('passes an AcmeError through', () => {
      const err = new AcmeError('WSFLEET_ACME_FAILED', { detail: 'x', permanent: true });
      expect(classifyAcmeError(err)).toBe(err);
    });

    it('reads a problem document from an axios error, with Retry-After', () => {
      const err = classifyAcmeError(
        axiosError({
          status: 429,
          headers: { 'retry-after': '30' },
          data: { type: `${URN}rateLimited`, detail: 'too many new orders', status: 429 },
        }),
      );
      expect(err).toMatchObject({
        code: 'WSFLEET_ACME_RATE_LIMITED',
        type: `${URN}rateLimited`,
        detail: 'too many new orders',
        status: 429,
        retryAfterMs: 30_000,
        permanent: false,
        message: 'rateLimited: too many new orders',
      });
    });

    it.each([
      [503, false],
      [502, false],
      [404, true],
    ])('treats HTTP %s without a problem document as permanent: %s', (status, permanent) => {
      const err = classifyAcmeError(axiosError({ status, data: '<html>gateway</html>' }));
      expect(err).toMatchObject({ code: 'WSFLEET_ACME_FAILED', status, permanent });
      expect(err.detail).toBe(
        `HTTP ${status} without a problem document from https://ca.test/acme/new-order`,
      );
    });

    it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN'])(
      'reports %s as an unreachable CA, transient',
      (code) => {
        expect(classifyAcmeError(axiosError({ code }))).toMatchObject({
          code: 'WSFLEET_ACME_UNREACHABLE',
          permanent: false,
        });
        const errno = Object.assign(new Error(`connect ${code} 127.0.0.1:443`), { code });
        expect(classifyAcmeError(errno)).toMatchObject({
          code: 'WSFLEET_ACME_UNREACHABLE',
          detail: `connect ${code} 127.0.0.1:443`,
        });
      },
    );

    it('reports the TypeError acme-client throws for a request without a response as unreachable', () => {
      const err = new TypeError("Cannot read properties of undefined (reading 'config')");
      expect(classifyAcmeError(err)).toMatchObject({
        code: 'WSFLEET_ACME_UNREACHABLE',
        permanent: false,
        cause: err,
      });
    });

    it('matches acme-client’s bare Error to the problem document it came from', () => {
      const seen = {
        status: 400,
        problem: { type: `${URN}rejectedIdentifier`, detail: 'Policy forbids issuing for name' },
      };
      const err = classifyAcmeError(new Error('Policy forbids issuing for name'), seen);
      expect(err).toMatchObject({
        code: 'WSFLEET_ACME_FAILED',
        type: `${URN}rejectedIdentifier`,
        permanent: true,
      });
    });

    it('keeps any other error as a transient failure with its message', () => {
      const err = classifyAcmeError(new Error('Unexpected item status: weird'), {
        status: 400,
        problem: { type: `${URN}malformed`, detail: 'something else' },
      });
      expect(err).toMatchObject({
        code: 'WSFLEET_ACME_FAILED',
        type: undefined,
        detail: 'Unexpected item status: weird',
        permanent: false,
      });
    });
  });
});
