/** Debian's headless Chromium through playwright-core, with nothing reaching out to the network on its own. */
import { createRequire } from 'node:module';
import { execa } from 'execa';
import { type Browser, chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/**
 * Debian moves its Chromium to each new upstream major through security updates, while
 * playwright-core is pinned by the lockfile: when the two stop fitting, say which two they are.
 */
async function versions(): Promise<string> {
  const browser = await execa(CHROMIUM, ['--version'], { reject: false, timeout: 10_000 });
  const require = createRequire(import.meta.url);
  const playwright = (require('playwright-core/package.json') as { version: string }).version;
  return `${browser.stdout.trim() || `${CHROMIUM}: ${browser.stderr.trim() || 'no version'}`}, playwright-core ${playwright}`;
}

export async function launchChromium(
  options: { readonly args?: readonly string[]; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<Browser> {
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      ...(options.env === undefined ? {} : { env: options.env }),
      args: [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        // Without these, Chromium calls Google's services at start, which this network refuses.
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        ...(options.args ?? []),
      ],
      timeout: 20_000,
    });
  } catch (err) {
    throw new Error(`Chromium did not start under playwright (${await versions()})`, { cause: err });
  }
}
