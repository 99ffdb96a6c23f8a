// Counts the active backend's live allocations by wrapping its alloc/free, and makes a chosen
// allocation fail: what the fault tests use to see that a throwing call leaves nothing behind.
import { expect } from 'vitest';
import { runtime } from '../src/runtime/index';
import { noGrad, type Module, type Tensor } from '../src/index';
import { bits } from './helpers';

export interface AllocationCounter {
  /** Allocations made and not yet freed since the counter started. */
  live(): number;
  /** Allocation calls since the counter started. */
  calls(): number;
  /** The n-th allocation from now (1 = the next) throws; null = none does. */
  failAt(n: number | null): void;
  /** Puts the backend's own alloc/free back. */
  stop(): void;
}

export function countAllocations(): AllocationCounter {
  const k = runtime().k as { alloc: (bytes: number) => number; free: (ptr: number) => void };
  const alloc = k.alloc,
    free = k.free;
  const held = new Set<number>();
  let calls = 0,
    failAfter: number | null = null;
  k.alloc = (bytes) => {
    calls++;
    if (failAfter !== null && --failAfter === 0) throw new Error('test: this allocation fails');
    const p = alloc(bytes);
    held.add(p);
    return p;
  };
  k.free = (ptr) => {
    held.delete(ptr);
    free(ptr);
  };
  return {
    live: () => held.size,
    calls: () => calls,
    failAt: (n) => {
      failAfter = n;
    },
    stop: () => {
      k.alloc = alloc;
      k.free = free;
    },
  };
}

export { caught } from './helpers';

/**
 * Makes each allocation of m's forward(x), then of its backward(dy) after a forward, fail in turn
 * until a call runs through, and expects every failure to leave nothing allocated and m's state and
 * gradients as they were.
 */
export function failEachAllocation(m: Module & { backward(dy: Tensor): Tensor }, x: Tensor, dy: Tensor, label: string): void {
  for (const phase of ['forward', 'backward'] as const) {
    for (let n = 1; ; n++) {
      if (phase === 'backward') noGrad(() => m.forward(x)).dispose(); // saved state for backward
      const before = m.stateDict();
      const grads = m.parameters().map((p) => bits(p.grad.toArray()));
      const count = countAllocations();
      count.failAt(n);
      let out: Tensor | null = null,
        threw = false;
      try {
        out = phase === 'forward' ? noGrad(() => m.forward(x)) : m.backward(dy);
      } catch {
        threw = true;
      }
      count.failAt(null);
      out?.dispose();
      const live = count.live();
      count.stop();
      if (!threw) break; // every allocation of this call has been made to fail in turn
      expect(live, `${label} ${phase}: allocation ${n} failed`).toBe(0);
      expect(m.stateDict(), `${label} ${phase}: allocation ${n} failed`).toEqual(before);
      expect(m.parameters().map((p) => bits(p.grad.toArray()))).toEqual(grads);
    }
  }
}
