/**
 * Waiting with a deadline: a peer that does not answer (a broker, a stalled stream, the reader of
 * a pipe) must not hold up a close or a read loop.
 */

/** What `valueWithin` gives when the deadline passed first. */
export const timeUp = Symbol('time up');

/** The promise's value, or `timeUp` once `ms` have passed (the timer is cleared either way). */
export function valueWithin<T>(promise: Promise<T>, ms: number): Promise<T | typeof timeUp> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof timeUp>((resolve) => (timer = setTimeout(() => resolve(timeUp), Math.max(0, ms))));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Waits for `promise` for at most `ms`: true when it settled (resolved or rejected) in time. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return (await valueWithin(promise.then(() => true, () => true), ms)) !== timeUp;
}
