// Browser runs only (vitest.browser.config.ts): the tests that compare bytes with Node's Buffer get
// the `buffer` package's implementation of the same API.
import { Buffer } from 'buffer';

(globalThis as { Buffer?: unknown }).Buffer ??= Buffer;
