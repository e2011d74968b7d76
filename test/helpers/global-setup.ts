import { build } from '../../scripts/build.ts';

/** Builds dist/wsfleet.js once, so tests spawn the very bundle that ships. */
export default async function setup(): Promise<void> {
  await build();
}
