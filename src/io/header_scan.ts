// One pass over the bytes of a safetensors JSON header before they are decoded and JSON.parse builds it: the nesting depth, the number
// of top-level entries and duplicated keys are checked without allocating per value, so a hostile
// header (nested 100 000 deep, millions of empty tensors, a key given twice) is refused early.
// JSON.parse silently keeps the last of duplicated keys; the reference reader refuses them.
// see: https://github.com/huggingface/safetensors (safetensors/src/tensor.rs, Metadata deserialisation)

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COMMA = 0x2c;
const OPEN_OBJECT = 0x7b,
  CLOSE_OBJECT = 0x7d,
  OPEN_ARRAY = 0x5b,
  CLOSE_ARRAY = 0x5d;

/** What scanHeader found wrong, or null; malformed JSON is left to JSON.parse to report. */
export type ScanProblem =
  | { kind: 'depth'; depth: number }
  | { kind: 'entries'; count: number }
  | { kind: 'duplicate'; key: string; parent: string | null };

// A key's bytes: UTF-8 (invalid UTF-8 is left to the decoder of the whole header to report).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Scans `text`, the UTF-8 bytes of a JSON object, before they are decoded (JSON's structural
 * characters are ASCII, and no byte of a multi-byte UTF-8 sequence is ASCII); stops at the first
 * problem: deeper than `maxDepth` containers, more than `maxEntries` top-level keys other than
 * `skip`, or a key given twice in one object.
 */
export function scanHeader(text: Uint8Array, maxDepth: number, maxEntries: number, skip: string): ScanProblem | null {
  // per open container: its keys so far (null for an array) and the key it is the value of
  const keys: (Set<string> | null)[] = [];
  const parents: (string | null)[] = [];
  let lastKey: string | null = null;
  let expectKey = false;
  let entries = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === QUOTE) {
      let j = i + 1,
        plain = true; // plain: ASCII without escapes, read as is
      while (j < text.length) {
        const d = text[j];
        if (d === BACKSLASH) {
          j += 2;
          plain = false;
        } else if (d === QUOTE) break;
        else {
          if (d >= 0x80) plain = false;
          j++;
        }
      }
      if (j >= text.length) return null;
      if (expectKey) {
        let key: string;
        if (plain && j - i < 4096) key = String.fromCharCode(...text.subarray(i + 1, j));
        else {
          try {
            key = JSON.parse(utf8.decode(text.subarray(i, j + 1))) as string;
          } catch {
            return null;
          }
        }
        const own = keys[keys.length - 1]!;
        if (own.has(key)) return { kind: 'duplicate', key, parent: parents[parents.length - 1] };
        own.add(key);
        if (keys.length === 1 && key !== skip && ++entries > maxEntries) return { kind: 'entries', count: entries };
        lastKey = key;
        expectKey = false;
      }
      i = j;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (keys.length + 1 > maxDepth) return { kind: 'depth', depth: keys.length + 1 };
      keys.push(c === OPEN_OBJECT ? new Set() : null);
      parents.push(lastKey);
      expectKey = c === OPEN_OBJECT;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (keys.length === 0) return null;
      keys.pop();
      lastKey = parents.pop() ?? null;
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = keys.length > 0 && keys[keys.length - 1] !== null;
    }
  }
  return null;
}
