// The websocket sink on loopback, fed by a real looping pipeline: access control, bad client
// messages, many clients with one stalled, connection churn, heartbeats; and the protocol's codecs.
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { WebSocket } from 'ws';
import { labelMap } from '../src/core/labelmap.js';
import { downsampleLabels } from '../src/stages/labelmap.js';
import { WebSocketSink } from '../src/sinks/websocket.js';
import { parseServerSinkUri } from '../src/core/uri.js';
import { BinaryKind, decodeClassMap, encodeClassMap, packBinary, unpackBinary, type FrameHeader } from '../src/sinks/websocket-protocol.js';
import { openSink } from '../src/app/sinks.js';
import { getManifest } from '../src/engine/registry.js';
import { waitFor } from './helpers/servers.js';
import { serveSettings } from '../src/app/config.js';
import { RoadsegError } from '../src/util/errors.js';
import { connectClient, handshakeStatus, servePipeline, until, type Served, type TestClient } from './helpers/ws-client.js';

const token = 'test-token-1';
const allowedOrigin = 'http://allowed.example:8080';
const maxMessageBytes = 1024;
const maxBufferedBytes = 256 * 1024;

describe('websocket sink, served by a running pipeline', () => {
  let served: Served;
  const withToken = () => `${served.url}?token=${token}`;

  beforeAll(async () => {
    // High JPEG quality: big images fill a stalled client's socket buffers quickly. Heartbeats
    // are slow here so that they do not end the stalled client (tested apart below).
    served = await servePipeline({ serve: { token, origins: [allowedOrigin], maxMessageBytes, maxBufferedBytes, jpegQuality: 95, heartbeatMs: 600_000 } });
  });

  afterAll(async () => {
    served?.handle.stop();
    await served?.running;
  });

  it('refuses a missing or wrong token (401), a foreign origin (403) and other paths (404); accepts ?token=, Bearer and the allowed origins', async () => {
    const { url, port } = served;
    expect(await handshakeStatus(url)).toBe(401);
    expect(await handshakeStatus(`${url}?token=wrong`)).toBe(401);
    expect(await handshakeStatus(url, { Authorization: 'Bearer wrong' })).toBe(401);
    expect(await handshakeStatus(`${url}?token=${token}x`)).toBe(401);
    expect(await handshakeStatus(withToken(), { Origin: 'http://evil.example' })).toBe(403);
    expect(await handshakeStatus(`ws://127.0.0.1:${port}/other?token=${token}`)).toBe(404);
    expect(await handshakeStatus(withToken())).toBe(101);
    expect(await handshakeStatus(url, { Authorization: `Bearer ${token}` })).toBe(101);
    expect(await handshakeStatus(withToken(), { Origin: allowedOrigin })).toBe(101);
    // The server's own viewer page, reached by address.
    expect(await handshakeStatus(withToken(), { Origin: `http://127.0.0.1:${port}` })).toBe(101);
    // ... but not when reached by a host name, which could be rebound to this address.
    expect(await handshakeStatus(withToken(), { Origin: 'http://attacker.example', Host: 'attacker.example' })).toBe(403);
  });

  it('sends hello with the model, classes, palette and source; signal only by default', async () => {
    const c = connectClient(withToken());
    const hello = await c.hello;
    expect(hello).toMatchObject({ v: 1, type: 'hello', model: getManifest().id, device: 'cpu', source: { id: 'udacity_vehicledet_test_video.mp4', width: 1280, height: 720, fps: 25 } });
    expect(hello.classes[0]).toBe('road');
    expect(hello.palette).toHaveLength(hello.classes.length);
    expect(hello.classMap).toMatchObject({ scale: 4, encoding: 'rle8' });
    expect(hello.subscription).toEqual({ frames: false, frameKind: 'overlay', signal: true, classMap: false, sources: null });
    await until('signals', () => c.signalTexts.length >= 3);
    expect(c.frames).toHaveLength(0);
    expect(c.classMaps).toHaveLength(0);
    c.ws.close();
  });

  it('a subscription to a source the run lacks: an error naming the known sources, the subscription unchanged', async () => {
    const c = connectClient(withToken());
    await c.hello;
    c.subscribe({ sources: ['nope'], classMap: true });
    await until('the error answer', () => c.errors.length === 1);
    expect(c.errors[0]!.message).toBe('unknown source "nope": the sources of this run are "udacity_vehicledet_test_video.mp4"; the subscription is unchanged');
    const before = c.signalTexts.length;
    await until('signals still coming', () => c.signalTexts.length >= before + 3);
    expect(c.classMaps).toHaveLength(0);
    c.ws.close();
  });

  it('ignores malformed client messages (answering with an error); an oversized one closes only that client', async () => {
    const sloppy = connectClient(withToken());
    const oversized = connectClient(withToken());
    const bystander = connectClient(withToken());
    await Promise.all([sloppy.hello, oversized.hello, bystander.hello]);
    for (const bad of ['not json', '{"type":"bogus"}', '{"type":"subscribe","frames":"yes"}', '[1,2]', 'null', '{"type":"subscribe","extra":1}']) sloppy.ws.send(bad);
    sloppy.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    sloppy.subscribe({ classMap: true });
    await until('error answers', () => sloppy.errors.length === 7);
    await until('class maps after the good subscribe', () => sloppy.classMaps.length >= 2);
    const signalsBefore = sloppy.signalTexts.length;
    await until('signals keep coming to the sloppy client', () => sloppy.signalTexts.length >= signalsBefore + 3);

    oversized.ws.send('x'.repeat(maxMessageBytes + 1));
    const { code } = await oversized.closed;
    expect(code).toBe(1009); // message too big
    const bystanderBefore = bystander.signalTexts.length;
    await until('signals keep coming to the others', () => bystander.signalTexts.length >= bystanderBefore + 3 && sloppy.signalTexts.length >= signalsBefore + 6);
    expect(sloppy.ws.readyState).toBe(WebSocket.OPEN);
    sloppy.ws.close();
    bystander.ws.close();
  });

  it('20 reading clients and one that never reads: every reader gets every signal and new images, the stalled one is bounded', async () => {
    const { sink } = served;
    // One at a time, so that the server numbers them in this order (the stalled one last).
    const readers: TestClient[] = [];
    for (let i = 0; i < 20; i++) {
      const c = connectClient(withToken());
      await c.hello;
      readers.push(c);
    }
    const stalled = connectClient(withToken());
    await stalled.hello;
    onTestFinished(() => {
      for (const c of [...readers, stalled]) c.ws.terminate();
    });
    const ours = () => sink.clientStats().sort((a, b) => a.id - b.id).slice(-21);
    for (const c of [...readers, stalled]) c.subscribe({ frames: true, signal: true, classMap: true });
    await until('images at every client', () => [...readers, stalled].every((c) => c.frames.length >= 1));
    stalled.ws.pause();

    const memory: number[] = [];
    const backlog: number[] = [];
    const writtenAtStart = sink.framesWritten;
    // Until the stalled client's socket buffers are full and the server drops its signals, and
    // for 20 frames after: states, counted in frames, whatever the machine's speed.
    let writtenWhenDropping: number | undefined;
    await waitFor(
      async () => {
        await new Promise((r) => setTimeout(r, 250));
        const m = process.memoryUsage();
        memory.push(m.heapUsed + m.arrayBuffers);
        const stalledStats = ours().at(-1)!;
        backlog.push(stalledStats.bufferedAmount);
        if (stalledStats.signalsDropped > 0) writtenWhenDropping ??= sink.framesWritten;
        return writtenWhenDropping !== undefined && sink.framesWritten >= writtenWhenDropping + 20;
      },
      240_000,
      'the stalled client to reach the buffer bound, and 20 frames more',
    );
    const written = sink.framesWritten - writtenAtStart;

    const stats = ours();
    const stalledStats = stats.at(-1)!;
    // What the server holds for the stalled client: the bound, plus the last signal, class map and
    // one image (under 1 MiB at 1280x720) handed over before the bound was reached.
    expect(Math.max(...backlog)).toBeLessThanOrEqual(maxBufferedBytes + 1024 * 1024);
    expect(stalledStats.framesSkipped).toBeGreaterThan(0);
    // The heap and buffers do not grow with time (peak of the first half vs the second half).
    const half = Math.floor(memory.length / 2);
    expect(Math.max(...memory.slice(half))).toBeLessThan(Math.max(...memory.slice(0, half)) + 64 * 1024 * 1024);

    // Every reader: no signal dropped, every frame's signal in order, images still arriving.
    for (const [i, c] of readers.entries()) {
      const s = stats[i]!;
      expect(s.signalsDropped).toBe(0);
      expect(s.classMapsDropped).toBe(0);
      expect(s.signalsSent).toBeGreaterThanOrEqual(written);
      await until('every signal sent to a reader arrives', () => c.signalTexts.length >= s.signalsSent, 60_000);
      const frames = c.signals().map((x) => x.frame);
      for (let k = 1; k < frames.length; k++) expect(frames[k]).toBe(frames[k - 1]! + 1);
      const imagesBefore = c.frames.length;
      await until('a new image at each reader', () => c.frames.length > imagesBefore, 60_000);
      expect(c.frames.at(-1)).toMatchObject({ type: 'frame', kind: 'overlay', width: 1280, height: 720, mime: 'image/jpeg' });
    }
    for (const c of [...readers, stalled]) c.ws.terminate();
    await until('the server forgets them', () => sink.clientCount === 0, 60_000);
  });

  it('500 connect/disconnect cycles: no leaked clients or descriptors, the stream goes on', async () => {
    const { sink } = served;
    const fds = () => readdirSync('/proc/self/fd').length;
    await until('clients of earlier tests gone', () => sink.clientCount === 0, 60_000);
    const watcher = connectClient(withToken());
    await watcher.hello;
    const fdsBefore = fds();
    const writtenBefore = sink.framesWritten;
    for (let batch = 0; batch < 50; batch++) {
      const clients = Array.from({ length: 10 }, () => connectClient(withToken()));
      await Promise.all(clients.map((c) => c.hello));
      clients.forEach((c, i) => {
        // Every way of leaving: a closing handshake, a reset, some right after subscribing to images.
        if (i % 3 === 0) c.subscribe({ frames: true, classMap: true });
        if (i % 2 === 0) c.ws.close();
        else c.ws.terminate();
      });
      await Promise.all(clients.map((c) => c.closed));
    }
    await until('the server forgets them', () => sink.clientCount === 1, 60_000);
    expect(sink.stats().connections).toBeGreaterThanOrEqual(500);
    await until('descriptors released', () => fds() <= fdsBefore + 2, 60_000);
    const signals = watcher.signalTexts.length;
    await until('the stream goes on', () => watcher.signalTexts.length > signals + 2 && sink.framesWritten > writtenBefore);
    watcher.ws.close();
  });
});

describe('websocket sink on its own', () => {
  it('terminates a client that stops answering pings, keeps the others', async () => {
    const sink = new WebSocketSink(parseServerSinkUri('ws://127.0.0.1:0', 'websocket'), { ...serveSettings({ heartbeatMs: 150 }), log: () => {} });
    const { port } = await sink.listening;
    const silent = new WebSocket(`ws://127.0.0.1:${port}/`);
    const lively = new WebSocket(`ws://127.0.0.1:${port}/`);
    await Promise.all([silent, lively].map((ws) => new Promise((r) => ws.once('open', r))));
    silent.pause();
    await until('the silent client is dropped', () => sink.clientCount === 1, 60_000);
    // Several heartbeats later the answering client is still there.
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.clientCount).toBe(1);
    expect(lively.readyState).toBe(WebSocket.OPEN);
    const closed = new Promise<number>((r) => lively.once('close', (code) => r(code)));
    await sink.close();
    expect(await closed).toBe(1000);
    silent.terminate();
  });

  it('serves the viewer files, and answers malformed requests without falling over', async () => {
    const sink = new WebSocketSink(parseServerSinkUri('ws://127.0.0.1:0', 'websocket'), { ...serveSettings(), log: () => {} });
    const { port } = await sink.listening;
    const base = `http://127.0.0.1:${port}`;
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await page.text()).toMatch(/<script src="viewer.js"/);
    expect((await fetch(`${base}/viewer.js?token=x`)).status).toBe(200);
    expect((await fetch(`${base}/viewer.css`)).status).toBe(200);
    expect((await fetch(`${base}/../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/%2e%2e/package.json`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
    const raw = (request: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.end(request));
        let reply = '';
        socket.on('data', (d) => (reply += d.toString()));
        socket.on('close', () => resolve(reply));
      });
    expect(await raw('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 404/);
    const upgrade = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    expect(await raw(`GET //[ HTTP/1.1\r\nHost: x\r\n${upgrade}`)).toMatch(/^HTTP\/1\.1 404/);
    expect(await handshakeStatus(`ws://127.0.0.1:${port}/`)).toBe(101);
    await sink.close();
  });

  it('refuses clients beyond maxClients with 503', async () => {
    const sink = new WebSocketSink(parseServerSinkUri('ws://127.0.0.1:0', 'websocket'), { ...serveSettings({ maxClients: 2 }), log: () => {} });
    const { port } = await sink.listening;
    const url = `ws://127.0.0.1:${port}/`;
    const held = [new WebSocket(url), new WebSocket(url)];
    await Promise.all(held.map((ws) => new Promise((r) => ws.once('open', r))));
    expect(await handshakeStatus(url)).toBe(503);
    await sink.close();
  });

  it('a taken port is a clear error when the pipeline opens the sink', async () => {
    const first = new WebSocketSink(parseServerSinkUri('ws://127.0.0.1:0', 'websocket'), { ...serveSettings(), log: () => {} });
    const { port } = await first.listening;
    const second = new WebSocketSink(parseServerSinkUri(`ws://127.0.0.1:${port}`, 'websocket'), { ...serveSettings(), log: () => {} });
    const err = await second.open({} as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RoadsegError);
    expect((err as RoadsegError).message).toMatch(/cannot serve on ws:\/\/127\.0\.0\.1:\d+: .*EADDRINUSE/);
    expect((err as RoadsegError).hint).toMatch(/--serve/);
    await second.close();
    await first.close();
  });

  it('bad URIs and options are clear errors', () => {
    expect(() => openSink('ws://127.0.0.1', { stop: () => {}, stdoutClosed: () => {}, serve: serveSettings(), opacity: 0.5 })).toThrow(RoadsegError);
    expect(() => new WebSocketSink(parseServerSinkUri('ws://127.0.0.1:0', 'websocket'), serveSettings({ token: '' }))).toThrow(/token is empty/);
    expect(() => new WebSocketSink(parseServerSinkUri('ws://127.0.0.1:0', 'websocket'), serveSettings({ origins: ['example.com'] }))).toThrow(/invalid allowed origin/);
  });
});

describe('protocol codecs', () => {
  it('class map: sampled like the analysed map, run-length coding round-trips', () => {
    const height = 37;
    const width = 53;
    const data = new Uint8Array(height * width);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = x < 20 ? 0 : y < 10 ? 10 : (x * 7 + y) % 19;
    data.fill(255, 0, 600); // a run longer than 255, crossing rows
    const labels = labelMap(data, height, width);
    const { width: w, height: h, rle } = encodeClassMap(labels, 4);
    expect([w, h]).toEqual([14, 10]);
    const grid = decodeClassMap(rle, w, h);
    expect(grid).toEqual(downsampleLabels(labels, 4).data);
    const full = encodeClassMap(labels, 1);
    expect(decodeClassMap(full.rle, width, height)).toEqual(data);
    expect(() => decodeClassMap(rle, w, h + 1)).toThrow(/cover/);
  });

  it('binary messages: kind, length-prefixed JSON header, payload', () => {
    const header: FrameHeader = { v: 1, type: 'frame', kind: 'overlay', source: 'clip.mp4', frame: 7, ptsMs: 280, captureTime: 1, width: 2, height: 1, mime: 'image/jpeg' };
    const payload = Buffer.from([0xff, 0xd8, 0xff]);
    const packed = packBinary(BinaryKind.frame, header, payload);
    expect(packed[0]).toBe(1);
    expect(packed.readUInt32LE(1)).toBe(Buffer.byteLength(JSON.stringify(header)));
    const back = unpackBinary(packed);
    expect(back).toEqual({ kind: 1, header, payload });
    expect(() => unpackBinary(Buffer.from([9, 0, 0, 0, 0]))).toThrow(/unknown binary message kind/);
    expect(() => unpackBinary(Buffer.from([1, 99, 0, 0, 0]))).toThrow(/overruns/);
  });
});
