// Types for the untyped packages the tests import, and the globals of the other runtimes that
// test/runtimes/main.mjs probes.

/** The `mnist` package (CommonJS): one entry per digit class, as the tests use it. */
declare module 'mnist' {
  interface Digit {
    id: number;
    /** Number of samples of this class. */
    length: number;
    /** Sample `which` as 784 values in [0, 1] (a random one when out of range). */
    get(which?: number): number[];
  }
  const mnist: Digit[];
  export default mnist;
}

/** Deno's global, where the runtime is Deno. */
declare const Deno: { version: { deno: string; v8: string } } | undefined;
/** Bun's global, where the runtime is Bun. */
declare const Bun: { version: string } | undefined;

/** A file's text through Vite's `?raw` suffix (the README, for the tests that run its code). */
declare module '*?raw' {
  const text: string;
  export default text;
}
