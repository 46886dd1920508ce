/**
 * Envoy's redaction of config dumps (`MessageUtil::redact`): every field the API marks
 * `(udpa.annotations.sensitive)` — TLS private keys and passwords, session ticket keys, generic
 * secrets such as HMAC secrets, basic auth users, Redis passwords, ... — and everything inside
 * it has its strings and bytes replaced by `[redacted]` and its other values cleared. Typed
 * configs (`Any`) are unpacked, redacted and packed again, so secrets inside extensions are
 * found too. A file path in a sensitive data source is redacted as well, as Envoy does.
 *
 * @module
 */
import {
  clone,
  type DescExtension,
  type DescMessage,
  hasOption,
  type Message,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Any } from "@bufbuild/protobuf/wkt";
import { apiRegistry } from "../config/api.ts";

/** What a redacted string or bytes value becomes. */
export const REDACTED = "[redacted]";
const REDACTED_BYTES = new TextEncoder().encode(REDACTED);

let sensitiveOption: DescExtension | undefined;

/** A copy of `message` with its sensitive fields redacted (the original is not touched). */
export function redacted<T extends Message>(schema: DescMessage, message: T): T {
  sensitiveOption ??= apiRegistry().getExtension("udpa.annotations.sensitive");
  const copy = clone(schema, message) as T;
  redact(reflect(schema, copy), false);
  return copy;
}

function isSensitive(field: Parameters<typeof hasOption>[0]): boolean {
  return sensitiveOption !== undefined && hasOption(field, sensitiveOption);
}

function redactScalar(type: ScalarType): string | Uint8Array | undefined {
  if (type === ScalarType.STRING) return REDACTED;
  if (type === ScalarType.BYTES) return REDACTED_BYTES;
  return undefined;
}

function redact(msg: ReflectMessage, ancestorSensitive: boolean): void {
  if (msg.desc.typeName === "google.protobuf.Any") {
    redactAny(msg.message as unknown as Any, ancestorSensitive);
    return;
  }
  for (const f of msg.fields) {
    if (!msg.isSet(f)) continue;
    const sensitive = ancestorSensitive || isSensitive(f);
    switch (f.fieldKind) {
      case "message":
        redact(msg.get(f), sensitive);
        break;
      case "list": {
        const list = msg.get(f);
        if (f.listKind === "message") {
          for (const m of list) redact(m as ReflectMessage, sensitive);
        } else if (sensitive) {
          const v = f.listKind === "scalar" ? redactScalar(f.scalar) : undefined;
          if (v === undefined) msg.clear(f);
          else for (let i = 0; i < list.size; i++) list.set(i, v);
        }
        break;
      }
      case "map": {
        const map = msg.get(f);
        for (const [k, v] of [...map.entries()]) {
          if (f.mapKind === "message") redact(v as ReflectMessage, sensitive);
          else if (sensitive) {
            const r = f.mapKind === "scalar" ? redactScalar(f.scalar) : undefined;
            if (r === undefined) map.delete(k);
            else map.set(k, r);
          }
        }
        break;
      }
      default:
        if (!sensitive) break;
        {
          const r = f.fieldKind === "scalar" ? redactScalar(f.scalar) : undefined;
          if (r === undefined) msg.clear(f);
          else msg.set(f, r as never);
        }
    }
  }
}

/** Unpacks a typed config, redacts it and packs it again (an unknown type is left alone). */
function redactAny(any: Any, sensitive: boolean): void {
  const registry = apiRegistry();
  let inner: Message | undefined;
  try {
    inner = anyUnpack(any, registry);
  } catch {
    return;
  }
  if (!inner) return;
  const desc = registry.getMessage(inner.$typeName);
  if (!desc) return;
  redact(reflect(desc, inner), sensitive);
  any.value = toBinary(desc, inner);
}
