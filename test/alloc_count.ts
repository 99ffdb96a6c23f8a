// Counts the active backend's live allocations by wrapping its alloc/free, and makes a chosen
// allocation fail: what the fault tests use to see that a throwing call leaves nothing behind.
import { runtime } from '../src/runtime/index';

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
