/** Debian's headless Chromium through playwright-core, with nothing reaching out to the network on its own. */
import { type Browser, chromium } from 'playwright-core';

export function launchChromium(
  options: { readonly args?: readonly string[]; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
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
}
