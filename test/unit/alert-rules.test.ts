/**
 * The Prometheus alert rules in images/prometheus: promtool's own unit tests of them (Debian's
 * `prometheus` package ships promtool), and every series they use is one the daemons export.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createCertSyncMetrics } from '../../daemons/cert-sync/metrics.ts';
import { createRenewerMetrics } from '../../daemons/renewer/metrics.ts';

const DIR = join(import.meta.dirname, '../../images/prometheus');
const run = promisify(execFile);

describe('alert rules', () => {
  it('use only series the renewer and cert-sync export', async () => {
    const rules = await readFile(join(DIR, 'wsfleet.rules.yml'), 'utf8');
    const used = new Set(
      [...rules.matchAll(/\b(wsfleet_[a-z_]+)\b/g)].map((m) =>
        (m[1] as string).replace(/_(bucket|sum|count)$/, ''),
      ),
    );
    const exported = new Set(
      [
        ...(await createRenewerMetrics().registry.getMetricsAsJSON()),
        ...(await createCertSyncMetrics().registry.getMetricsAsJSON()),
      ].map((m) => m.name),
    );
    expect(used.size).toBeGreaterThan(0);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });

  // scripts/setup.sh installs promtool (Debian's prometheus package); its exit code is the verdict.
  it('pass `promtool check rules` and their `promtool test rules` cases', async () => {
    const checked = await run('promtool', ['check', 'rules', 'wsfleet.rules.yml'], { cwd: DIR });
    expect(checked.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const tested = await run('promtool', ['test', 'rules', 'wsfleet.rules.test.yml'], { cwd: DIR });
    expect(tested.stdout).toContain('SUCCESS');
  });
});
