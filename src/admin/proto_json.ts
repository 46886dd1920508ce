/**
 * Admin responses that are Envoy API messages (`admin.v3.*`) rendered as Envoy renders them:
 * the plain object is read into the generated message and printed back as canonical proto
 * JSON, so field names, field order, omitted defaults, 64-bit integers as strings and
 * durations come out as in Envoy's own output.
 *
 * @module
 */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { apiRegistry, messageSchema } from "../config/api.ts";

/**
 * `value` as the canonical proto JSON of message `typeName`. With `alwaysPrint`, fields at
 * their default values are printed too (Envoy does so for `/server_info`, `/memory`, `/certs`).
 *
 * @throws {Error} when `value` does not fit the message (a bug, not bad input).
 */
export function protoJson(typeName: string, value: JsonValue, alwaysPrint = false): JsonValue {
  const schema = messageSchema(typeName);
  const registry = apiRegistry();
  const msg = fromJson(schema, value, { registry });
  return toJson(schema, msg, {
    registry,
    useProtoFieldName: true,
    alwaysEmitImplicit: alwaysPrint,
  });
}
