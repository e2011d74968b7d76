import { build } from '../../scripts/build.ts';
import { failRunOnLeftovers, guardRun } from './leftovers.ts';

/**
 * Builds dist/wsfleet.js once, so tests spawn the very bundle that ships; gives the run a
 * temporary folder of its own, and fails it if anything of it is left at the end.
 */
export default async function setup(): Promise<() => Promise<void>> {
  await build();
  const guard = await guardRun('check');
  return async () => {
    const problems = await guard.finish();
    failRunOnLeftovers('The test run', problems);
  };
}
