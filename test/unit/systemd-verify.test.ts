import { describe, expect, it } from 'vitest';
import { verifyFindings } from '../helpers/systemd-verify.ts';

describe('verifyFindings', () => {
  it('judges the lines about our units and drop-ins, and sets apart those about units of the system', () => {
    const output = [
      "/etc/systemd/system/wsfleet-app.service:14: Unknown key name 'Foo' in section 'Service', ignoring.",
      "/lib/systemd/system/network-online.target:9: Unknown key name 'Bar' in section 'Unit', ignoring.",
      'wsfleet-cert-sync.service: Command /opt/wsfleet/node/bin/node is not executable: No such file or directory',
      "/etc/systemd/system/nginx.service.d/wsfleet.conf:3: Missing '=', ignoring line.",
      'nginx.service: ExecStartPre= setting is deprecated',
      '',
    ].join('\n');
    const { ours, others } = verifyFindings(output);
    expect(ours).toHaveLength(3);
    expect(others).toEqual([
      "/lib/systemd/system/network-online.target:9: Unknown key name 'Bar' in section 'Unit', ignoring.",
      'nginx.service: ExecStartPre= setting is deprecated',
    ]);
  });

  it('finds nothing in empty output', () => {
    expect(verifyFindings('\n')).toEqual({ ours: [], others: [] });
  });
});
