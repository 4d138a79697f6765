// Debian's chromium driven by playwright-core, for the browser tests (tests/ui*.test.ts): never a
// downloaded browser. Each launch gets a fresh profile directory, removed on close.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, type BrowserContextOptions, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = join(import.meta.dir, "..", "..", "test-output", "screenshots");

/** Run browser tests? Without chromium they skip, except in CI (CAIRN_REQUIRE_LXC=1), where they must fail. */
export const browserTestsEnabled = (): boolean =>
  existsSync(CHROMIUM) || process.env.CAIRN_REQUIRE_LXC === "1";

export interface TestBrowser {
  /** The browser's default context (the profile's): pages from `newPage` share its cookies. */
  context: BrowserContext;
  newPage(opts?: { width?: number; height?: number; colorScheme?: "light" | "dark" }): Promise<Page>;
  /** A context of its own (no cookies, storage or permissions of any other), closed with the browser. */
  newContext(opts?: BrowserContextOptions): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const profile = mkdtempSync(join(tmpdir(), "cairn-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
      // Shared memory in /tmp, not /dev/shm: a container's /dev/shm can be 64 MB, and a page that
      // runs out of it (the 1,000,000-line log) crashes mid-test.
      "--disable-dev-shm-usage",
    ],
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async newPage(opts = {}) {
      const page = await context.newPage();
      if (opts.width) await page.setViewportSize({ width: opts.width, height: opts.height ?? 800 });
      if (opts.colorScheme) await page.emulateMedia({ colorScheme: opts.colorScheme });
      return page;
    },
    newContext(opts = {}) {
      const browser = context.browser();
      if (!browser) throw new Error("the persistent context has no browser to open another context in");
      return browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** Console errors and CSP violations a page reported (a test asserts there are none). */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}
