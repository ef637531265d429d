// What a websocket client receives in one real run equals what the other outputs of that run hold:
// the signal line for line with the JSONL sink, class maps with the frames' label maps, images
// with the frame size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPipeline } from '../src/app/open.js';
import { heightOf, labelMap, widthOf } from '../src/core/labelmap.js';
import { downsampleLabels } from '../src/stages/labelmap.js';
import { WebSocketSink } from '../src/sinks/websocket.js';
import { decodeClassMap } from '../src/sinks/websocket-protocol.js';
import { cv } from '../src/util/cv.js';
import { modelsDir, tempDir } from './helpers/paths.js';
import { connectClient, shortClip } from './helpers/ws-client.js';

describe('websocket output of a real run', () => {
  it('the signal equals the JSONL sink line for line; class maps and images match the frames', async () => {
    const signalPath = join(tempDir(), 'signal.jsonl');
    const handle = await createPipeline({ source: shortClip, stride: 2, inputHeight: 129, modelsDir, sinks: ['ws://127.0.0.1:0', `signal:${signalPath}`] });
    const sink = handle.sinks.find((s): s is WebSocketSink => s instanceof WebSocketSink)!;
    const { port } = await sink.listening;

    // The server listens before the run starts, so these clients see the first frame too.
    const signalOnly = connectClient(`ws://127.0.0.1:${port}/`);
    const everything = connectClient(`ws://127.0.0.1:${port}/`);
    await Promise.all([signalOnly, everything].map((c) => new Promise((r) => c.ws.once('open', r))));
    everything.subscribe({ frames: true, frameKind: 'source', classMap: true });
    // The subscription is taken when it arrives; a round trip through the server makes sure it has.
    await everything.settled();

    const labelsByFrame = new Map<number, { data: Uint8Array; width: number; height: number }>();
    handle.results.subscribe((f) => labelsByFrame.set(f.meta.index, { data: Uint8Array.from(f.labels.data), width: widthOf(f.labels), height: heightOf(f.labels) }));
    const summary = await handle.run();
    const [closedA, closedB] = await Promise.all([signalOnly.closed, everything.closed]);
    expect(closedA.code).toBe(1000);
    expect(closedB.code).toBe(1000);

    const lines = readFileSync(signalPath, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(19);
    expect(signalOnly.signalTexts).toEqual(lines);
    expect(everything.signalTexts).toEqual(lines);
    expect(signalOnly.frames).toHaveLength(0);
    expect(summary.sinks[sink.name]).toMatchObject({ connections: 2, signalsSent: 38, signalsDropped: 0 });

    // Class maps: every frame, sampled as the analysis samples its map (the one label-map sampler).
    expect(everything.classMaps.map((h) => h.frame)).toEqual(signalOnly.signals().map((s) => s.frame));
    const last = everything.classMaps.at(-1)!;
    const labels = labelsByFrame.get(last.frame)!;
    expect(last).toMatchObject({ type: 'classMap', scale: 4, encoding: 'rle8', width: Math.ceil(labels.width / 4), height: Math.ceil(labels.height / 4) });
    const grid = decodeClassMap(everything.lastClassMap!, last.width, last.height);
    expect(grid).toEqual(downsampleLabels(labelMap(labels.data, labels.height, labels.width), 4).data);

    // Images: the decoded frames ('source'), JPEG at the frame's size, in frame order.
    expect(everything.frames.length).toBeGreaterThan(0);
    const indexes = everything.frames.map((f) => f.frame);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    expect(everything.frames.at(-1)).toMatchObject({ type: 'frame', kind: 'source', width: 1280, height: 720, mime: 'image/jpeg' });
    const image = cv.imdecode(everything.lastJpeg!);
    expect([image.cols, image.rows]).toEqual([1280, 720]);
  });
});
