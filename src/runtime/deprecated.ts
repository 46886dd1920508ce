/**
 * Finding the deprecated fields a config uses, as Envoy does when it loads a config: each use
 * is logged as a warning and counted in `runtime.deprecated_feature_use`.
 *
 * @module
 */
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import type { Any } from "@bufbuild/protobuf/wkt";
import { apiRegistry } from "../config/api.ts";
import { unpackAny } from "../config/any.ts";

/**
 * The full names (`envoy.config.bootstrap.v3.Admin.access_log_path`) of the deprecated fields
 * set in `message`, including inside `Any`s, in walk order.
 */
export function deprecatedFieldUses(schema: DescMessage, message: Message): string[] {
  const out: string[] = [];
  walk(reflect(schema, message), out);
  return out;
}

function walkMessage(m: Message, out: string[]): void {
  if (m.$typeName === "google.protobuf.Any") {
    const inner = unpackAny(m as Any);
    if (inner) walkMessage(inner, out);
    return;
  }
  const desc = apiRegistry().getMessage(m.$typeName);
  if (desc) walk(reflect(desc, m), out);
}

function walk(r: ReflectMessage, out: string[]): void {
  for (const f of r.fields) {
    if (!r.isSet(f)) continue;
    if (f.deprecated) out.push(`${r.desc.typeName}.${f.name}`);
    if (f.fieldKind === "message") {
      const v = r.get(f);
      walkMessage(v.message, out);
    } else if (f.fieldKind === "list" && f.listKind === "message") {
      for (const item of r.get(f)) walkMessage((item as ReflectMessage).message, out);
    } else if (f.fieldKind === "map" && f.mapKind === "message") {
      for (const [, item] of r.get(f)) walkMessage((item as ReflectMessage).message, out);
    }
  }
}
