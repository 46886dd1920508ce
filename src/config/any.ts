/**
 * Unpacking `typed_config` Anys. The main thread unpacks every Any of the bootstrap once
 * (`preUnpack`) before sending it to workers, which then read the unpacked messages without
 * building the API registry: decoding the whole API costs ~110 ms per isolate at start-up.
 */
import type { Message } from "@bufbuild/protobuf";
import { type Any, anyUnpack } from "@bufbuild/protobuf/wkt";
import { apiRegistry } from "./api.ts";

/** An Any carrying its unpacked message (set by `preUnpack`, survives structured cloning). */
type UnpackedAny = Any & { unpacked?: Message };

/** The message inside `any`, or undefined when its type is not part of the API. */
export function unpackAny<T extends Message>(any: Any): T | undefined {
  const cached = (any as UnpackedAny).unpacked;
  return (cached ?? anyUnpack(any, apiRegistry())) as T | undefined;
}

/** Unpacks every Any inside `msg` (recursively, including inside unpacked messages). */
export function preUnpack(msg: unknown): void {
  if (msg === null || typeof msg !== "object" || msg instanceof Uint8Array) return;
  if (Array.isArray(msg)) {
    for (const m of msg) preUnpack(m);
    return;
  }
  const o = msg as Record<string, unknown>;
  if (o.$typeName === "google.protobuf.Any" && typeof o.typeUrl === "string") {
    const inner = anyUnpack(o as unknown as Any, apiRegistry());
    if (inner) {
      (o as UnpackedAny).unpacked = inner;
      preUnpack(inner);
    }
    return;
  }
  for (const k in o) preUnpack(o[k]);
}
