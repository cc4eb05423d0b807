import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { MovableInkStandIn, Stack, waitFor } from '@inkstream/testing';
import { openBrowser, type Browser } from './browser.js';

/**
 * The console in Chromium against the four services as processes and a stand-in Movable Ink:
 * an admin goes from nothing to a delivering sync without leaving the browser.
 * UPDATE_SCREENSHOTS=1 writes the screenshots the README shows into docs/.
 */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const shots = process.env.UPDATE_SCREENSHOTS ? join(repoRoot, 'docs') : mkdtempSync(join(tmpdir(), 'console-shots-'));
mkdirSync(shots, { recursive: true });

/** Answers of the API the browser logs as "Failed to load resource" on purpose in this test. */
const EXPECTED_FAILURES = [
  { status: 401, path: /\/v1\/projects$/ }, // the wrong token
  { status: 400, path: /\/v1\/projects\/[^/]+\/syncs$/ }, // the invalid endpoint URL
  { status: 409, path: /\/v1\/syncs\/[^/]+$/ }, // the save over a newer version
];

describe('web console', () => {
  const standIn = new MovableInkStandIn();
  const stack = new Stack();
  let browser: Browser;
  let page: Page;
  let endpoint: string;
  let apiKey = '';
  let projectId = '';
  let syncId = '';

  const consoleUrl = (path = '/') => stack.url('config', `/console${path}`);
  const shot = (name: string) => page.screenshot({ path: join(shots, name), fullPage: true });
  /** Sends events as an app would, until ingest knows the (rotated) key; insert_ids make repeats one. */
  const ingest = async (events: object[]) => {
    let last = '';
    await waitFor(
      async () => {
        const res = await fetch(stack.url('ingest', '/2/httpapi'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ api_key: apiKey, events }),
        });
        last = `${res.status} ${await res.text()}`;
        return res.status === 200;
      },
      'ingest to accept the events',
      30_000,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${last}`);
    });
  };
  /** Later steps need the sync the form created: fail at once when that step failed. */
  const needSync = () => {
    if (!syncId) throw new Error('no sync: creating it through the form failed');
  };
  /** Payloads the stand-in accepted through the pipeline (not the test identify). */
  const pipelinePayloads = () => standIn.payloads().filter((p) => p.user_id !== 'inkstream-test-user').length;
  let delivered = 0;
  const metricText = (id: string) => page.locator(`[data-metric="${id}"] dd`).innerText();

  beforeAll(async () => {
    endpoint = `${await standIn.start()}/behavioral/abc123`;
    await stack.start();
    browser = await openBrowser();
    page = browser.page;
    page.setDefaultTimeout(60_000);
  });

  afterAll(async () => {
    await browser?.close();
    await stack.stop();
    await standIn.stop();
    if (!process.env.UPDATE_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
  });

  it('is served with a strict policy, and the API answers it', async () => {
    const res = await fetch(consoleUrl('/'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere
  });

  it('refuses a wrong token with a clear message, and signs in by keyboard alone', async () => {
    await page.goto(consoleUrl('/'));
    const token = page.getByLabel('Admin token', { exact: true });
    await token.fill('not-the-token');
    await token.press('Enter');
    await expect.poll(() => page.locator('#admin-token-error').textContent()).toContain('not the admin token');
    expect(await token.getAttribute('aria-invalid')).toBe('true');
    await shot('console-sign-in.png');

    // Keyboard only: the token field has focus, type, Enter.
    await token.fill('');
    await page.keyboard.type(stack.adminToken);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
    // The token is nowhere in the URL.
    expect(page.url()).not.toContain(stack.adminToken);
  });

  it('creates a project and shows its api key and the SDK snippet', async () => {
    await page.getByLabel('Project name', { exact: true }).fill('Shop');
    await page.getByRole('button', { name: 'Create project' }).click();
    const created = page.getByRole('status', { name: 'Project created' });
    await created.waitFor();
    apiKey = (await created.locator('.copyable code').innerText()).trim();
    expect(apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect(await created.locator('pre').innerText()).toContain(`amplitude.init('${apiKey}'`);
    projectId = (await stack.admin<Array<{ id: string; name: string }>>('GET', '/v1/projects')).body.find((p) => p.name === 'Shop')!.id;
    await shot('console-projects.png');
  });

  it('rotates a project key after confirming', async () => {
    await page.goto(consoleUrl(`/projects/${projectId}`));
    await page.getByRole('heading', { name: 'Shop', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Rotate the key of Shop' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate the API key of “Shop”?' });
    await dialog.getByRole('button', { name: 'Rotate key' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(async () => (await page.locator('.copyable code').first().innerText()).trim()).not.toBe(apiKey);
    const rotated = (await page.locator('.copyable code').first().innerText()).trim();
    expect((await stack.admin<{ apiKey: string }>('GET', `/v1/projects/${projectId}`)).body.apiKey).toBe(rotated);
    apiKey = rotated;
  });

  it('deletes a project only after confirming', async () => {
    await page.goto(consoleUrl('/'));
    await page.getByLabel('Project name', { exact: true }).fill('Scratch');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('link', { name: 'Scratch' }).waitFor();
    await page.getByRole('button', { name: 'Delete Scratch' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete “Scratch”?' });
    await dialog.waitFor();
    // Escape cancels: the project stays.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await page.getByRole('link', { name: 'Scratch' }).count()).toBe(1);
    await page.getByRole('button', { name: 'Delete Scratch' }).click();
    await dialog.getByRole('button', { name: 'Delete project' }).click();
    await page.getByText('“Scratch” was deleted.').waitFor();
    await expect.poll(() => page.getByRole('link', { name: 'Scratch' }).count()).toBe(0);
    expect((await stack.admin('GET', '/v1/projects')).body.map((p: { name: string }) => p.name)).toEqual(['Shop']);
  });

  it('creates a sync through the form, showing a validation error next to its field', async () => {
    await page.goto(consoleUrl(`/projects/${projectId}`));
    await page.getByRole('link', { name: 'New sync' }).click();
    await page.getByRole('heading', { name: 'New Movable Ink sync' }).waitFor();
    await page.getByLabel('Sync name', { exact: true }).fill('Movable Ink – prod');
    await page.getByLabel('Endpoint URL', { exact: true }).fill('not a url');
    await page.getByLabel('Access Key ID', { exact: true }).fill('movable_ink1');
    await page.getByLabel('Access Secret', { exact: true }).fill('movable_ink2');
    await page.getByLabel('Event type (row 1)', { exact: true }).fill('Product Viewed');
    await page.getByRole('button', { name: 'Add a condition to row 1' }).click();
    await page.getByLabel('Property', { exact: true }).fill('price');
    await page.getByLabel('Operator', { exact: true }).selectOption('greater');
    await page.getByLabel('Values (comma-separated)', { exact: true }).fill('10');
    await page.getByRole('button', { name: '+ Add event' }).click();
    await page.getByLabel('Event type (row 2)', { exact: true }).fill('Order Completed');
    const eventProperties = page.getByLabel('Additional event properties', { exact: true });
    for (const name of ['product_id', 'price']) {
      await eventProperties.fill(name);
      await eventProperties.press('Enter');
    }
    await page.getByRole('switch', { name: 'Send users' }).click();
    const userProperties = page.getByLabel('User properties', { exact: true });
    await userProperties.fill('email');
    await userProperties.press('Enter');

    await page.getByRole('button', { name: 'Create sync' }).click();
    const error = page.locator('#f-endpointUrl-error');
    await error.waitFor();
    expect(await error.innerText()).toBe('Must match format "uri"');
    expect(await page.getByLabel('Endpoint URL', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('f-endpointUrl');
    await shot('console-validation.png');

    await page.getByLabel('Endpoint URL', { exact: true }).fill(endpoint);
    await page.getByRole('button', { name: 'Create sync' }).click();
    await page.getByText('Sync created. It is disabled').waitFor();
    syncId = /\/console\/syncs\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    const sync = (await stack.admin('GET', `/v1/syncs/${syncId}`)).body;
    expect(sync).toMatchObject({
      name: 'Movable Ink – prod',
      enabled: false,
      endpointUrl: endpoint,
      eventFilters: [
        { eventType: 'Product Viewed', where: [{ propertyType: 'event', property: 'price', operator: 'greater', values: [10] }] },
        { eventType: 'Order Completed' },
      ],
      eventProperties: ['product_id', 'price'],
      sendUsers: true,
      userProperties: ['email'],
    });
    expect(sync.authorization).not.toContain('movable_ink2');
  });

  it('previews an event, says why another is not selected, and sends the test identify', async () => {
    needSync();
    await page.goto(consoleUrl(`/syncs/${syncId}/try`));
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    const result = page.getByRole('status', { name: 'Preview result' });
    await result.waitFor();
    expect(await result.innerText()).toContain('Selected');
    expect(await result.innerText()).toContain('"event": "Product Viewed"');
    expect(await result.innerText()).toContain('"price": 49.99');
    await shot('console-preview.png');

    await page.getByLabel('Event JSON', { exact: true }).fill(JSON.stringify({ event_type: 'Product Viewed', user_id: 'user-12345', event_properties: { price: 5 } }));
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await expect.poll(() => result.innerText()).toContain('Not selected');
    expect(await result.innerText()).toMatch(/Not selected: .+/);

    const before = standIn.requests.length;
    await page.getByRole('button', { name: 'Send test identify' }).click();
    const test = page.getByRole('status', { name: 'Test result' });
    await test.waitFor();
    expect(await test.innerText()).toContain('Accepted: HTTP 200');
    expect(standIn.requests.length).toBe(before + 1);
  });

  it('enables the sync with the Status switch (by keyboard) and says so when it changed meanwhile', async () => {
    needSync();
    await page.goto(consoleUrl(`/syncs/${syncId}`));
    const status = page.getByRole('switch', { name: 'Status' });
    await status.focus();
    await page.keyboard.press('Space');
    expect(await status.getAttribute('aria-checked')).toBe('true');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Saved.').waitFor();
    await expect.poll(() => page.locator('.status-line').innerText()).toContain('Enabled');
    expect((await stack.admin('GET', `/v1/syncs/${syncId}`)).body.enabled).toBe(true);

    // Someone else renames it; saving the page's older version is refused, not applied.
    expect((await stack.admin('PATCH', `/v1/syncs/${syncId}`, { name: 'Renamed elsewhere' })).status).toBe(200);
    await page.getByLabel('Sync name', { exact: true }).fill('My rename');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('This sync was changed meanwhile').waitFor();
    expect((await stack.admin('GET', `/v1/syncs/${syncId}`)).body.name).toBe('Renamed elsewhere');
    await page.reload();
    await page.getByRole('heading', { name: 'Renamed elsewhere', level: 1 }).waitFor();

    for (const service of ['filter', 'delivery'] as const) {
      await waitFor(async () => (await stack.metric(service, 'inkstream_config_syncs', { active: 'true' })) >= 1, `${service} to see the sync`);
    }
    await waitFor(async () => (await stack.metric('ingest', 'inkstream_config_projects')) >= 1, 'ingest to learn the api key');
  });

  it('shows deliveries move on the monitoring page as events arrive', async () => {
    needSync();
    await page.goto(consoleUrl(`/syncs/${syncId}`));
    await page.getByRole('link', { name: 'Monitoring' }).click();
    await page.locator('[data-metric="delivered"]').waitFor();
    expect(await metricText('delivered')).toBe('0');
    expect(await page.locator('.chart svg').getAttribute('data-delivered')).toBe('0');

    await ingest(
      [1, 2, 3].map((n) => ({
        event_type: 'Product Viewed',
        user_id: `user-${n}0000`,
        insert_id: `viewed-${n}`,
        event_properties: { product_id: `p-${n}`, price: 20 + n, currency: 'EUR' },
      })),
    );
    await waitFor(() => standIn.payloads().filter((p) => p.type === 'track').length >= 3, 'three tracks at the stand-in');
    // Each new user's identify went first (Send users is on): metrics count payloads.
    delivered = pipelinePayloads();
    expect(delivered).toBe(6);
    // The page refreshes by itself.
    await expect.poll(() => metricText('delivered'), { timeout: 60_000, interval: 500 }).toBe(String(delivered));
    await expect.poll(() => page.locator('.chart svg').getAttribute('data-delivered'), { timeout: 30_000 }).toBe(String(delivered));
    expect(await page.locator('.chart rect.bar-delivered').count()).toBeGreaterThan(0);
    expect(await metricText('rate')).toBe('100%');
    await shot('console-monitoring.png');
  });

  it('suggests event types and properties from recently ingested events, and previews a picked one', async () => {
    needSync();
    await page.goto(consoleUrl(`/syncs/${syncId}`));
    // currency was never typed in: it comes from the events just ingested.
    await page.getByRole('button', { name: 'Add currency to Additional event properties' }).waitFor();
    const types = await page.locator('#event-type-suggestions option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(types).toContain('Product Viewed');

    await page.getByRole('link', { name: 'Preview & test' }).click();
    const picker = page.getByLabel('Pick a recent event', { exact: true });
    await expect.poll(() => picker.locator('option').count()).toBeGreaterThan(1);
    await picker.selectOption({ index: 1 });
    expect(await page.getByLabel('Event JSON', { exact: true }).inputValue()).toContain('"currency": "EUR"');
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await expect.poll(() => page.getByRole('status', { name: 'Preview result' }).innerText()).toContain('Selected');
  });

  it('lists a rejected payload as a dead letter with its error, and redrives it', async () => {
    needSync();
    standIn.respondWith((req) =>
      JSON.stringify(req.json ?? {}).includes('user-dead') ? { status: 400, body: '{"error":"bad payload"}' } : { status: 200, body: '{}' },
    );
    await page.goto(consoleUrl(`/syncs/${syncId}/monitoring`));
    await ingest([{ event_type: 'Order Completed', user_id: 'user-dead', insert_id: 'order-dead', event_properties: { total: 3 } }]);

    // Its identify and its track are both refused: two dead letters.
    const rows = page.locator('section[aria-labelledby="dead-title"] tbody tr');
    await expect.poll(() => rows.count(), { timeout: 60_000, interval: 500 }).toBe(2);
    expect(await rows.allInnerTexts()).toEqual([expect.stringContaining('rejected'), expect.stringContaining('rejected')]);
    await expect.poll(() => page.locator('section[aria-labelledby="errors-title"] tbody').innerText(), { timeout: 30_000 }).toContain('400');
    await expect.poll(() => metricText('not-delivered'), { timeout: 30_000 }).toBe('2');
    await shot('console-dead-letters.png');

    standIn.respondWith(() => ({ status: 200, body: '{}' }));
    await rows.first().getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Redrive selected (1)' }).click();
    await page.getByText('1 dead letter sent again.').waitFor();
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(1);
    await page.getByRole('button', { name: 'Redrive all' }).click();
    await page.getByText('1 dead letter sent again.').waitFor();
    await page.getByText('No dead letters.').waitFor();
    await waitFor(() => standIn.payloads().filter((p) => p.user_id === 'user-dead').length === 2, 'the redriven payloads at the stand-in');
    await expect.poll(() => metricText('delivered'), { timeout: 60_000, interval: 500 }).toBe(String(delivered + 2));
  });

  it('shows the change history', async () => {
    needSync();
    await page.goto(consoleUrl(`/syncs/${syncId}`));
    await page.getByRole('link', { name: 'History' }).click();
    const history = page.getByRole('list', { name: 'Change history' });
    await history.waitFor();
    const text = await history.innerText();
    expect(text).toContain('Version 1: created');
    expect(text).toContain('Version 3');
  });

  it('reads at phone width without sideways scrolling', async () => {
    needSync();
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of [`/syncs/${syncId}/monitoring`, `/syncs/${syncId}`, `/projects/${projectId}`]) {
      await page.goto(consoleUrl(path));
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForLoadState('networkidle');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, path).toBeLessThanOrEqual(0);
    }
    await page.goto(consoleUrl(`/syncs/${syncId}/monitoring`));
    await page.locator('[data-metric="delivered"]').waitFor();
    await shot('console-phone.png');
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it('logged no errors but the answers it provoked', () => {
    const unexpected = browser.problems.filter(
      (p) => !EXPECTED_FAILURES.some((f) => p.text.includes(`status of ${f.status}`) && f.path.test(new URL(p.url || 'http://x/').pathname)),
    );
    expect(unexpected).toEqual([]);
  });
});
