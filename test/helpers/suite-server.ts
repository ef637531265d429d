/**
 * A broker server for one describe block: started before its tests, stopped after them. Apart
 * from servers.ts, which `npm run bench:fleet` loads outside vitest.
 */
import { afterAll, beforeAll } from 'vitest';
import type { ServerProcess } from './servers.js';

/** Call inside `describe`; the returned server is usable from the tests (after `beforeAll`). */
export function serverForSuite(start: () => Promise<ServerProcess>): ServerProcess {
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const running = () => {
    if (!server) throw new Error('the suite server starts in beforeAll');
    return server;
  };
  return {
    get port() {
      return running().port;
    },
    get url() {
      return running().url;
    },
    start: () => running().start(),
    pid: () => running().pid(),
    stop: (signal) => running().stop(signal),
  };
}
