import { describe, expect, it } from 'vitest';
import { bundleSize, CLIENT_BUDGET_BYTES } from '../../scripts/bundle-sizes.ts';

describe('wsfleet/client bundle', () => {
  it('stays within its budget of 5 KB minified and gzipped', async () => {
    const size = await bundleSize('wsfleet/client', './client/index.ts');
    expect(size.gzipped).toBeGreaterThan(1_000);
    expect(size.gzipped).toBeLessThanOrEqual(CLIENT_BUDGET_BYTES);
  });
});
