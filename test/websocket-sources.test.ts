// The websocket server of a run with several sources: the hello lists them, clients subscribe per
// source, and the browser viewer shows them side by side (real pipeline, real Chromium).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { videos } from './helpers/paths.js';
import { connectClient, servePipeline, until, type Served } from './helpers/ws-client.js';

const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const first = 'udacity_vehicledet_test_video.mp4';
const second = 'udacity_lanelines_solidWhiteRight.mp4';

describe('websocket server with several sources', () => {
  let served: Served;
  let browser: Browser;

  beforeAll(async () => {
    [served, browser] = await Promise.all([servePipeline({ sources: [join(videos, second)] }), chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs })]);
  });

  afterAll(async () => {
    await browser?.close();
    served?.handle.stop();
    await served?.running;
  });

  it('lists every source in the hello, and serves each client the sources it subscribed to', async () => {
    const all = connectClient(served.url);
    const one = connectClient(served.url);
    const hello = await all.hello;
    expect(hello.sources.map((s) => s.id)).toEqual([first, second]);
    expect(hello.source.id).toBe(first);
    await one.hello;
    one.subscribe({ sources: [second], frames: true, frameKind: 'overlay', classMap: true });
    await until('signals of both sources', () => new Set(all.signals().map((s) => s.source)).size === 2);
    await until('images and class maps of the second source', () => one.frames.length >= 3 && one.classMaps.length >= 3);
    const before = one.signals().length;
    await until('more signals', () => one.signals().length > before + 5);
    // Signals from before the subscription arrived may be of either source; later ones are the second's only.
    expect(new Set(one.signals().slice(before).map((s) => s.source))).toEqual(new Set([second]));
    expect(new Set(one.frames.map((f) => f.source))).toEqual(new Set([second]));
    expect(new Set(one.classMaps.map((m) => m.source))).toEqual(new Set([second]));
    all.ws.close();
    one.ws.close();
  });

  it('the viewer shows the sources side by side and enlarges the one clicked', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`http://127.0.0.1:${served.port}/`);
    await page.waitForSelector('#sources figure');
    expect(await page.locator('#sources figure').count()).toBe(2);
    const tilePixels = (i: number) =>
      page.evaluate((i) => {
        const c = document.querySelectorAll<HTMLCanvasElement>('#sources canvas')[i]!;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let lit = 0;
        for (let p = 0; p < d.length; p += 4) if (d[p]! + d[p + 1]! + d[p + 2]! > 60) lit++;
        return lit;
      }, i);
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000 && ((await tilePixels(0)) === 0 || (await tilePixels(1)) === 0)) await page.waitForTimeout(250);
    expect(await tilePixels(0)).toBeGreaterThan(0);
    expect(await tilePixels(1)).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#info').textContent()).toContain(first);
    await page.locator(`#sources figure[data-source="${second}"]`).click();
    await expect.poll(() => page.locator('#info').textContent()).toContain(second);
    expect(await page.locator(`#sources figure.selected`).getAttribute('data-source')).toBe(second);
    await page.screenshot({ path: join(tmpdir(), 'roadseg-viewer-sources.png') });
    await page.close();
  });
});
