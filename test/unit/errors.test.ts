import { describe, expect, it } from 'vitest';
import { WsfleetError } from '../../daemons/shared/errors.ts';
import { ImageError } from '../../images/build/errors.ts';
import { DeployError } from '../../scripts/deploy/errors.ts';
import { LabError } from '../../scripts/lab/errors.ts';

describe('error families', () => {
  it.each([
    [new ImageError('WSFLEET_IMAGE_INPUT', 'no bundle'), ImageError, 'ImageError', 'WSFLEET_IMAGE_INPUT'],
    [new LabError('WSFLEET_LAB_STATE', 'no lab'), LabError, 'LabError', 'WSFLEET_LAB_STATE'],
    [
      new DeployError('WSFLEET_GCLOUD_FAILED', 'gcloud said no'),
      DeployError,
      'DeployError',
      'WSFLEET_GCLOUD_FAILED',
    ],
  ])('%s is its own class and a WsfleetError, with its name and code', (err, cls, name, code) => {
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(WsfleetError);
    expect(err).not.toBeInstanceOf(cls === LabError ? ImageError : LabError);
    expect(err.name).toBe(name);
    expect(err.code).toBe(code);
    expect(String(err)).toBe(`${name}: ${err.message}`);
  });

  it('keeps the cause', () => {
    const cause = new Error('ENOENT');
    expect(new LabError('WSFLEET_LAB_MACHINE', 'x', { cause }).cause).toBe(cause);
  });
});
