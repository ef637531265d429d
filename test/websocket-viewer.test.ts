// The browser viewer in real headless Chromium, against a real looping pipeline.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { getManifest } from '../src/engine/registry.js';
import { defaults } from '../src/app/config.js';
import { servePipeline, until, type Served } from './helpers/ws-client.js';

const token = 'viewer-token';
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface ViewerSnapshot {
  connection: string;
  framesShown: number;
  signals: number;
  classMaps: number;
  history: number;
  hiddenClasses: number[];
  classesDrawn: boolean;
  opacity: number;
}

const snapshot = (page: Page) => page.evaluate(() => (window as unknown as { roadsegViewer: { snapshot(): ViewerSnapshot } }).roadsegViewer.snapshot());

/** Pixels of a canvas in the page with exactly this opaque colour, and all opaque ones. */
function countColour(page: Page, canvasId: string, rgb: readonly [number, number, number]) {
  return page.evaluate(
    ({ canvasId, rgb }) => {
      const canvas = document.getElementById(canvasId) as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let matching = 0;
      let opaque = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] === 0) continue;
        opaque++;
        if (data[i] === rgb[0] && data[i + 1] === rgb[1] && data[i + 2] === rgb[2]) matching++;
      }
      return { matching, opaque };
    },
    { canvasId, rgb },
  );
}

describe('browser viewer (headless Chromium)', () => {
  let served: Served;
  let browser: Browser;

  beforeAll(async () => {
    // Playwright gives each launch a fresh temporary profile (user data dir).
    [served, browser] = await Promise.all([servePipeline({ serve: { token } }), chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs })]);
  });

  afterAll(async () => {
    await browser?.close();
    served?.handle.stop();
    await served?.running;
  });

  it('shows live images, updates the chart, and re-renders the class map when a class is toggled', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await page.goto(`http://127.0.0.1:${served.port}/?token=${token}`);

    // The token in the page URL reached the websocket: connected, and everything is streaming.
    await page.waitForFunction(() => {
      const s = (window as unknown as { roadsegViewer: { snapshot(): ViewerSnapshot } }).roadsegViewer.snapshot();
      return s.connection === 'connected' && s.framesShown >= 2 && s.classMaps >= 2 && s.history >= 3;
    }, undefined, { timeout: 60_000 });
    // A frame the model is unsure of may arrive in between: the state then says so, still connected.
    expect(await page.textContent('#state')).toMatch(/^connected( · low confidence)?$/);
    expect(await page.textContent('#info')).toMatch(new RegExp(`${getManifest().id} on cpu · udacity_vehicledet_test_video\\.mp4 1280×720`));
    expect(await page.locator('#legend li').count()).toBe(19);

    // Frames arrive: the image canvas has the frame's size and a picture in it.
    const frame = await page.evaluate(() => {
      const c = document.getElementById('frame') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4 * 97) sum += d[i]! + d[i + 1]! + d[i + 2]!;
      return { width: c.width, height: c.height, sum };
    });
    expect(frame).toMatchObject({ width: 1280, height: 720 });
    expect(frame.sum).toBeGreaterThan(0);
    const shown = (await snapshot(page)).framesShown;
    await page.waitForFunction((n) => (window as unknown as { roadsegViewer: { snapshot(): ViewerSnapshot } }).roadsegViewer.snapshot().framesShown > n + 3, shown, { timeout: 30_000 });

    // The chart updates: the drivable line is drawn, and the pixels change as signals arrive.
    const drivableGreen = [0x3d, 0xdc, 0x84] as const;
    const chartBefore = await countColour(page, 'chart', drivableGreen);
    expect(chartBefore.matching).toBeGreaterThan(10);
    const chartPixels = () => page.evaluate(() => {
      const c = document.getElementById('chart') as HTMLCanvasElement;
      return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 3)).join('');
    });
    const before = await chartPixels();
    const historyBefore = (await snapshot(page)).history;
    await page.waitForFunction((n) => (window as unknown as { roadsegViewer: { snapshot(): ViewerSnapshot } }).roadsegViewer.snapshot().history > n + 5, historyBefore, { timeout: 30_000 });
    await page.waitForTimeout(100);
    expect(await chartPixels()).not.toBe(before);
    expect(await page.textContent('#chartNow')).toMatch(/now \d+\.\d % \/ \d+\.\d %/);

    // Class toggles: road (purple in the Cityscapes palette) disappears from the class map and
    // comes back; other classes stay.
    const road = [128, 64, 128] as const;
    const withRoad = await countColour(page, 'classes', road);
    expect(withRoad.matching).toBeGreaterThan(50);
    await page.uncheck('#legend input[data-class-id="0"]');
    const withoutRoad = await countColour(page, 'classes', road);
    expect(withoutRoad.matching).toBe(0);
    expect(withoutRoad.opaque).toBeGreaterThan(0);
    const classMapsHidden = (await snapshot(page)).classMaps;
    await page.waitForFunction((n) => (window as unknown as { roadsegViewer: { snapshot(): ViewerSnapshot } }).roadsegViewer.snapshot().classMaps > n + 2, classMapsHidden, { timeout: 30_000 });
    expect((await countColour(page, 'classes', road)).matching).toBe(0); // new class maps honour the toggle
    await page.check('#legend input[data-class-id="0"]');
    expect((await countColour(page, 'classes', road)).matching).toBeGreaterThan(50);
    await page.click('#noClasses');
    expect((await countColour(page, 'classes', road)).opaque).toBe(0);
    await page.click('#allClasses');
    expect((await countColour(page, 'classes', road)).matching).toBeGreaterThan(50);

    // The slider starts at the server's overlay opacity (the config default) and sets the class layer's.
    expect((await snapshot(page)).opacity).toBe(defaults.opacity);
    await page.fill('#opacity', '0.8');
    expect(await page.evaluate(() => (document.getElementById('classes') as HTMLCanvasElement).style.opacity)).toBe('0.8');
    await page.selectOption('#frameKind', 'overlay');
    await until('the viewer asks for overlay images', () => served.sink.clientStats().some((s) => s.subscription.frameKind === 'overlay' && s.subscription.frames));
    expect(Number(await page.textContent('#fps'))).toBeGreaterThan(0);
    // The server's overlay is already coloured: the page draws no second colouring.
    expect((await snapshot(page)).classesDrawn).toBe(false);
    expect(await page.isVisible('#overlayNote')).toBe(true);
    await page.selectOption('#frameKind', 'source');
    expect((await snapshot(page)).classesDrawn).toBe(true);

    // The snapshot button saves what is shown as a PNG.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#snapshot')]);
    expect(download.suggestedFilename()).toMatch(/^roadseg-frame-\d+\.png$/);
    const png = readFileSync((await download.path())!);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(await page.evaluate(() => (document.getElementById('frame') as HTMLCanvasElement).width));

    expect(problems).toEqual([]);
    await page.close();
  });

  it('without the token the page cannot connect, and says so', async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${served.port}/`);
    await page.waitForFunction(() => document.getElementById('state')!.className.includes('disconnected'), undefined, { timeout: 30_000 });
    expect(await page.textContent('#state')).toMatch(/token rejected\?/);
    expect((await snapshot(page)).framesShown).toBe(0);
    await page.close();
  });
});
