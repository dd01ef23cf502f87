// The headless Chromium the dashboard suites drive, and the page errors they collect.
import { chromium, type Browser, type Page } from 'playwright-core';

/** The system's Chromium, headless, without the background traffic a test does not want. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Hands each console error and uncaught exception of `page` to `record`, as text. */
export function watchPageErrors(page: Page, record: (text: string) => void): void {
  page.on('console', (message) => {
    if (message.type() === 'error') record(message.text());
  });
  page.on('pageerror', (error) => record(`uncaught: ${error.stack ?? error.message}`));
}
