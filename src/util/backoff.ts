/** Backoff between reconnection attempts (a dropped stream, a websocket server): 0.5 s doubling to 8 s. */
export function backoffMs(attempt: number): number {
  return Math.min(8000, 500 * 2 ** attempt);
}
