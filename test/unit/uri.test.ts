// The one URI parser: sources and sinks classified into typed descriptors, bad ones refused as usage errors.
import { describe, expect, it } from 'vitest';
import { parseServerSinkUri, parseSinkUri, parseSourceUri, perSourcePath, redactUri, serveSink, streamSourceId } from '../../src/core/uri.js';
import { RoadsegError } from '../../src/util/errors.js';

const usageError = (f: () => unknown, message: RegExp) => {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(RoadsegError);
  expect((thrown as RoadsegError).exitCode).toBe(2);
  expect((thrown as RoadsegError).message).toMatch(message);
  expect((thrown as RoadsegError).hint).toBeTruthy();
};

describe('source URIs', () => {
  it('classifies cameras, streams, images and videos', () => {
    expect(parseSourceUri('camera:2')).toEqual({ kind: 'camera', uri: 'camera:2', index: 2 });
    expect(parseSourceUri('/dev/video1')).toMatchObject({ kind: 'camera', index: 1 });
    expect(parseSourceUri('RTSP://cam/1')).toMatchObject({ kind: 'stream' });
    expect(parseSourceUri('dir/*.png')).toMatchObject({ kind: 'images', path: 'dir/*.png' });
    expect(parseSourceUri('a.PNG')).toMatchObject({ kind: 'images' });
    expect(parseSourceUri('clip.mp4')).toMatchObject({ kind: 'video', path: 'clip.mp4' });
    usageError(() => parseSourceUri('ftp://x/y.mp4'), /unknown source URI scheme/);
  });
});

describe('sink URIs', () => {
  it('classifies every sink kind', () => {
    expect(parseSinkUri('window')).toEqual({ kind: 'window', uri: 'window' });
    expect(parseSinkUri('-')).toMatchObject({ kind: 'signal', path: '-' });
    expect(parseSinkUri('signal:-')).toMatchObject({ kind: 'signal', path: '-' });
    expect(parseSinkUri('signal:out/s.txt')).toMatchObject({ kind: 'signal', path: 'out/s.txt' });
    expect(parseSinkUri('s.NDJSON')).toMatchObject({ kind: 'signal', path: 's.NDJSON' });
    expect(parseSinkUri('o.mkv')).toMatchObject({ kind: 'video', path: 'o.mkv' });
    expect(parseSinkUri('mqtts://broker:8883/road/signal')).toMatchObject({ kind: 'mqtt' });
    expect(parseSinkUri('redis://127.0.0.1:6379/0?stream=s')).toMatchObject({ kind: 'redis' });
  });

  it('websocket addresses', () => {
    expect(parseSinkUri('ws://0.0.0.0:8080')).toMatchObject({ kind: 'websocket', host: '0.0.0.0', port: 8080 });
    expect(parseSinkUri('ws://[::1]:0/')).toMatchObject({ host: '::1', port: 0 });
    expect(parseSinkUri('ws://:9000')).toMatchObject({ host: '127.0.0.1', port: 9000 });
    expect(serveSink('8080')).toMatchObject({ uri: 'ws://127.0.0.1:8080', port: 8080 });
    expect(serveSink('0.0.0.0:81')).toMatchObject({ host: '0.0.0.0', port: 81 });
    for (const bad of ['ws://127.0.0.1', 'ws://127.0.0.1:70000', 'ws://127.0.0.1:80/path']) usageError(() => parseSinkUri(bad), /invalid websocket sink URI/);
    usageError(() => serveSink('host:'), /--serve expects/);
    expect(parseServerSinkUri('metrics://:9100', 'metrics')).toEqual({ kind: 'metrics', uri: 'metrics://:9100', host: '127.0.0.1', port: 9100 });
    usageError(() => parseServerSinkUri('metrics://127.0.0.1:9100', 'websocket'), /not a websocket sink URI/);
  });

  it('refuses an empty signal path, unknown schemes and file types', () => {
    usageError(() => parseSinkUri('signal:'), /signal sink has no path/);
    usageError(() => parseSinkUri('rtmp://x/live'), /unknown sink URI/);
    usageError(() => parseSinkUri('out.gif'), /unsupported video file type/);
  });
});

describe('{source} in paths', () => {
  it('names one file per source: the id without its video extension, file-safe', () => {
    expect(perSourcePath('out/{source}.mp4', 'drive.mp4')).toBe('out/drive.mp4');
    expect(perSourcePath('out/{source}/{source}.json', 'rtsp://cam 1/x')).toBe('out/rtsp___cam_1_x/rtsp___cam_1_x.json');
    expect(perSourcePath('out/{source}.json', '..hidden')).toBe('out/_hidden.json');
    expect(perSourcePath('out/summary.json', 'drive.mp4')).toBe('out/summary.json');
  });
});

describe('redactUri: credentials never printed', () => {
  it('masks the password of user:password@, a lone user (a token), and secret query parameters', () => {
    expect(redactUri('mqtt://user:secret@broker:1883/a/b')).toBe('mqtt://user:***@broker:1883/a/b');
    expect(redactUri('redis://:pw@127.0.0.1:6379/0?stream=s')).toBe('redis://:***@127.0.0.1:6379/0?stream=s');
    expect(redactUri('rtsp://admin:p@ss:w0rd@10.0.0.9/live')).toBe('rtsp://admin:***@10.0.0.9/live');
    expect(redactUri('https://ghp_TOKEN@example.com/x.mp4')).toBe('https://***@example.com/x.mp4');
    expect(redactUri('ws://127.0.0.1:8080/?token=abc&x=1')).toBe('ws://127.0.0.1:8080/?token=***&x=1');
    expect(redactUri('http://cam/stream?user=a&password=b')).toBe('http://cam/stream?user=a&password=***');
  });

  it('masks every URI in a line and leaves other text alone', () => {
    expect(redactUri('error: mqtt://a:b@h/t and redis://:c@h/0?stream=s failed')).toBe('error: mqtt://a:***@h/t and redis://:***@h/0?stream=s failed');
    expect(redactUri('  where: {"uri":"rtsp://u:p@cam/1"}')).toBe('  where: {"uri":"rtsp://u:***@cam/1"}');
    for (const plain of ['mqtt://127.0.0.1:1883/roadseg/{source}/signal?qos=1', 'out/clip.mp4', 'user@example.com wrote', 'redis://h:1/0?stream=token']) expect(redactUri(plain)).toBe(plain);
  });

  it('a stream source id carries no credentials (it goes into every signal line, label and file name)', () => {
    expect(streamSourceId('rtsp://admin:pw@10.0.0.9:554/live')).toBe('10.0.0.9:554/live');
    expect(streamSourceId('http://cam.local/video.mjpg?token=abc')).toBe('cam.local/video.mjpg?token=***');
    expect(streamSourceId('rtsp://10.0.0.9/live')).toBe('10.0.0.9/live');
  });
});
