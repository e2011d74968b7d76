/** What `wsfleet lab` needs of the machine, checked before anything is made; every gap at once. */
import { execa } from 'execa';
import { localBuildProblems } from '../../images/build/local-build.ts';

/** Command → the Debian package that has it. */
export const LAB_TOOLS: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  nsenter: 'util-linux',
  'systemd-nspawn': 'systemd-container',
  haproxy: 'haproxy',
  'redis-server': 'redis-server',
  pebble: 'pebble',
  'pebble-challtestsrv': 'pebble',
  openssl: 'openssl',
};

export async function labProblems(): Promise<string[]> {
  const problems = await localBuildProblems();
  const missing: string[] = [];
  for (const [tool, pkg] of Object.entries(LAB_TOOLS)) {
    const found = await execa('sh', ['-c', `command -v ${tool}`], { reject: false, stdin: 'ignore' });
    if (found.exitCode !== 0) missing.push(`${tool} (Debian package ${pkg})`);
  }
  if (missing.length > 0)
    problems.push(`missing: ${missing.join(', ')}; \`bash scripts/setup.sh\` installs them all`);
  // Namespaces and veth pairs: the first thing `up` does, tried here so the reason is clear.
  const probe = `wsfleet-probe-${process.pid}`;
  const added = await execa('ip', ['netns', 'add', probe], { reject: false });
  if (added.exitCode !== 0)
    problems.push(`cannot create a network namespace (ip netns add): ${added.stderr.trim()}`);
  else await execa('ip', ['netns', 'delete', probe], { reject: false });
  return [...new Set(problems)];
}
