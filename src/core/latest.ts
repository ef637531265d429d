/**
 * The one latest-value primitive: a one-slot mailbox. `put` never waits; a value not taken before
 * the next one arrives is overwritten, counted, and handed to `onOverwrite` (to free what it owns).
 * Used by the live pump, `latest`-policy sinks, and the websocket's encoder and client queues.
 */
export class LatestSlot<T> {
  private value: T | undefined;
  private has = false;
  private waiter: (() => void) | undefined;
  private closed = false;
  /** Values overwritten before anyone took them. */
  overwritten = 0;

  constructor(private readonly onOverwrite: (dropped: T) => void = () => {}) {}

  /** Stores `value`; an untaken earlier value is dropped. Returns true when one was dropped. */
  put(value: T): boolean {
    const dropped = this.has;
    if (dropped) {
      const old = this.value as T;
      this.overwritten++;
      this.onOverwrite(old);
    }
    this.value = value;
    this.has = true;
    this.wake();
    return dropped;
  }

  /** The value, if one is waiting (and empties the slot). */
  take(): T | undefined {
    if (!this.has) return undefined;
    const v = this.value as T;
    this.value = undefined;
    this.has = false;
    return v;
  }

  get full(): boolean {
    return this.has;
  }

  /** Waits until a value is put or the slot is closed; then `take` returns it (or undefined). */
  async next(): Promise<T | undefined> {
    while (!this.has && !this.closed) await new Promise<void>((r) => (this.waiter = r));
    return this.take();
  }

  /** Wakes a waiting `next` for good; a value still in the slot can be taken. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
