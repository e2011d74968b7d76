import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { appOptions } from '../../daemons/app/config.ts';
import { PROTOCOL_ERRORS } from '../../daemons/app/protocol.ts';
import { certSyncOptions } from '../../daemons/cert-sync/config.ts';
import { renewerOptions } from '../../daemons/renewer/config.ts';
import { envName, flagName } from '../../daemons/shared/config.ts';
import { ERROR_CODES } from '../../daemons/shared/errors.ts';
import { buildOptions } from '../../images/build/config.ts';
import {
  deployOptions,
  initOptions,
  rolloutOptions,
  statusOptions,
  teardownOptions,
} from '../../scripts/deploy/deploy-options.ts';
import { upOptions } from '../../scripts/lab/config.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The first-column codes of the README table that follows `heading`. */
function tableCodes(heading: string): string[] {
  const start = readme.indexOf(heading);
  expect(start, `README has "${heading}"`).toBeGreaterThan(-1);
  const rows = readme.slice(start).split('\n').slice(1);
  const codes: string[] = [];
  let inTable = false;
  for (const row of rows) {
    if (row.startsWith('|')) {
      inTable = true;
      const cell = /^\| `([^`]+)` \|/.exec(row);
      if (cell) codes.push(cell[1] as string);
    } else if (inTable) {
      break;
    }
  }
  return codes;
}

describe('README', () => {
  it.each([
    ['wsfleet app run', appOptions],
    ['wsfleet renewer run', renewerOptions],
    ['wsfleet cert-sync run', certSyncOptions],
    ['wsfleet images build', buildOptions],
    ['wsfleet lab up', upOptions],
    ['wsfleet init', initOptions],
    ['wsfleet deploy', deployOptions],
    ['wsfleet rollout', rolloutOptions],
    ['wsfleet status', statusOptions],
    ['wsfleet teardown', teardownOptions],
  ])('documents every flag of %s with its variable', (_command, options) => {
    for (const key of Object.keys(options)) {
      expect(readme).toContain(`| \`${flagName(key)}\` | \`${envName(key)}\` |`);
    }
  });

  it('lists exactly the error codes the code has', () => {
    expect(tableCodes('### Error codes').sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('lists exactly the protocol error codes the server sends', () => {
    expect(tableCodes('Error codes in error frames').sort()).toEqual(Object.keys(PROTOCOL_ERRORS).sort());
  });
});
