/**
 * Batches items for one inference call, as DeepStream's nvstreammux does: a batch goes when it is
 * full (`maxBatch` items of one input size), when every source that could still add a frame has
 * one waiting, or when the oldest waiting item has waited `timeoutMs`, whichever comes first; one
 * batch runs at a time. A batch holds at most one item per lane (source), so items of a lane keep
 * their order, and one source alone is inferred frame by frame.
 */
import { Observable, type OperatorFunction } from 'rxjs';

export interface BatchOptions<T, R> {
  /** Items per call, at most (and at most one per lane). */
  maxBatch: number;
  timeoutMs: number;
  /** Items that may share a call have the same key (their input size). */
  key: (item: T) => string;
  lane: (item: T) => string;
  /** Lanes that may still deliver items (not ended or stopped). */
  openLanes: () => Iterable<string>;
  /** Runs one batch; resolves with the items to pass on (failed ones left out). `waitedMs`: how long it waited to fill. */
  run: (batch: T[], waitedMs: number) => Promise<R[]>;
}

export function batchInference<T, R>(opts: BatchOptions<T, R>): OperatorFunction<T, R> {
  return (input) =>
    new Observable<R>((out) => {
      const pending: { item: T; at: number }[] = [];
      let running = false;
      let upstreamDone = false;
      let timer: NodeJS.Timeout | undefined;
      /** Unsubscribed (the run was aborted): no batch is started after that, whatever is waiting. */
      let closed = false;
      /** When the last call ended: a batch waits to fill from then, or from its first item's arrival. */
      let freeAt = 0;

      const pick = (): T[] => {
        const key = opts.key(pending[0]!.item);
        const blocked = new Set<string>();
        const batch: number[] = [];
        for (let i = 0; i < pending.length && batch.length < opts.maxBatch; i++) {
          const { item } = pending[i]!;
          const lane = opts.lane(item);
          if (blocked.has(lane)) continue;
          // One frame per source and call, as nvstreammux: a source's next frame waits its turn.
          blocked.add(lane);
          if (opts.key(item) === key) batch.push(i);
        }
        return batch.map((i) => pending[i]!.item);
      };

      const ready = (batch: T[]): boolean => {
        if (batch.length >= opts.maxBatch || upstreamDone) return true;
        if (performance.now() - pending[0]!.at >= opts.timeoutMs) return true;
        const waiting = new Set(pending.map((p) => opts.lane(p.item)));
        for (const lane of opts.openLanes()) if (!waiting.has(lane)) return false;
        return true;
      };

      const next = (): void => {
        clearTimeout(timer);
        timer = undefined;
        if (running || closed) return;
        if (pending.length === 0) {
          if (upstreamDone) out.complete();
          return;
        }
        const batch = pick();
        if (!ready(batch)) {
          timer = setTimeout(next, Math.max(0, pending[0]!.at + opts.timeoutMs - performance.now()));
          return;
        }
        const waitedMs = performance.now() - Math.max(pending[0]!.at, freeAt);
        const taken = new Set(batch);
        for (let i = pending.length - 1; i >= 0; i--) if (taken.has(pending[i]!.item)) pending.splice(i, 1);
        running = true;
        opts.run(batch, waitedMs).then(
          (done) => {
            running = false;
            freeAt = performance.now();
            for (const item of done) out.next(item);
            next();
          },
          (e: unknown) => out.error(e),
        );
      };

      const sub = input.subscribe({
        next: (item) => {
          pending.push({ item, at: performance.now() });
          next();
        },
        error: (e: unknown) => out.error(e),
        complete: () => {
          upstreamDone = true;
          next();
        },
      });
      return () => {
        closed = true;
        sub.unsubscribe();
        clearTimeout(timer);
      };
    });
}
