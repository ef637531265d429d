/**
 * `npm run docs:pictures`: the manual's pictures, made from the shipped data so they stay true.
 *   docs/img/overlay.png  an overlay frame of a real clip, as `roadseg run -o` draws it
 *   docs/img/viewer.png   the browser viewer (headless Chromium) on the same clip, served live
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { take } from 'rxjs';
import { createPipeline } from '../src/app/open.js';
import type { WebSocketSink } from '../src/sinks/websocket.js';
import { cv } from '../src/util/cv.js';
import { packageRoot } from '../src/util/package.js';

const clip = join(packageRoot, '..', 'shared', 'data', 'videos', 'udacity_vehicledet_pr2_test_small2.mp4');
const out = join(packageRoot, 'docs', 'img');
/** Width of the overlay picture: enough to read, small enough for the repository. */
const overlayWidth = 800;

async function overlayPicture(): Promise<void> {
  const pipeline = await createPipeline({ source: clip, start: 2, duration: 0.04 });
  // The frame's Mats are valid during the callback only.
  const sub = pipeline.results.pipe(take(1)).subscribe((f) => {
    const small = f.overlay.resize(Math.round((f.overlay.rows * overlayWidth) / f.overlay.cols), overlayWidth, 0, 0, cv.INTER_AREA);
    cv.imwrite(join(out, 'overlay.png'), small, [cv.IMWRITE_PNG_COMPRESSION, 9]);
    small.release();
  });
  await pipeline.run();
  sub.unsubscribe();
}

async function viewerPicture(): Promise<void> {
  // Every frame (no --realtime), so that the page is not starved when the machine is busy.
  const pipeline = await createPipeline({ source: clip, loop: true, sinks: ['ws://127.0.0.1:0'] });
  const sink = pipeline.sinks[0] as WebSocketSink;
  const { port } = await sink.listening;
  const running = pipeline.run();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    await page.goto(`http://127.0.0.1:${port}/`);
    // Enough signals for the chart to show a stretch of the clip, and images shown.
    const shown = () => page.evaluate(() => (window as unknown as { roadsegViewer: { snapshot(): { framesShown: number; history: number } } }).roadsegViewer.snapshot());
    const t0 = Date.now();
    for (let s = await shown(); s.history < 60 || s.framesShown < 20; s = await shown()) {
      if (Date.now() - t0 > 400_000) throw new Error(`the viewer did not fill in 400 s: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await page.screenshot({ path: join(out, 'viewer.png') });
  } finally {
    await browser.close();
    pipeline.stop();
    await running;
  }
}

mkdirSync(out, { recursive: true });
await overlayPicture();
await viewerPicture();
process.stderr.write(`docs:pictures: wrote ${join(out, 'overlay.png')} and ${join(out, 'viewer.png')}\n`);
