/**
 * Lays decoded messages out again for a long life. protobuf-es sets every field of a message's
 * type as an own property, one at a time, which leaves a type with many fields (a Cluster has
 * some 50) in dictionary mode: over 1.5 KiB of property dictionary per message before its
 * nested ones. A structured clone builds each object with hidden classes shared by every
 * message of the same shape, and the strings it copies (type names, oneof cases, repeated in
 * every message) are shared again: about half the bytes in all. For messages kept as long as
 * the server runs, one per cluster (`/config_dump`, CDS diffs, workers started later).
 *
 * @module
 */

/**
 * Compact copies of `messages` (structured clones: plain data, unpacked Anys included), to
 * use in their place; the originals are left as they are.
 */
export function compactMessages<T>(messages: readonly T[]): T[] {
  const out = structuredClone(messages) as T[];
  shareStrings(out, new Map());
  return out;
}

/** Replaces each string property in `value`'s tree by the first equal one `seen` holds. */
function shareStrings(value: unknown, seen: Map<string, string>): void {
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return;
  const o = value as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (typeof v !== "string") shareStrings(v, seen);
    else {
      const s = seen.get(v);
      if (s === undefined) seen.set(v, v);
      else o[k] = s;
    }
  }
}
