/**
 * Envoy's DataSource (inline string or bytes, a file, an environment variable), read once at
 * config load by whatever holds one: direct response bodies, format strings, local replies.
 */
import type { DataSource } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** The bytes of `ds`, or undefined when it is unset. Errors name `field`. */
export function dataSourceBytes(ds: DataSource | undefined, field: string): Uint8Array | undefined {
  const s = ds?.specifier;
  switch (s?.case) {
    case undefined:
      return undefined;
    case "inlineString":
      return utf8.encode(s.value);
    case "inlineBytes":
      return s.value;
    case "filename":
      try {
        return Deno.readFileSync(s.value);
      } catch (e) {
        throw new Error(`${field}.filename: cannot read '${s.value}': ${(e as Error).message}`);
      }
    case "environmentVariable": {
      const v = Deno.env.get(s.value);
      if (v === undefined) throw new Error(`${field}.environment_variable: ${s.value} is not set`);
      return utf8.encode(v);
    }
    default:
      throw new Error(`${field}: unsupported data source`);
  }
}

/** The text (UTF-8) of `ds`, or undefined when it is unset. */
export function dataSourceText(ds: DataSource | undefined, field: string): string | undefined {
  const bytes = dataSourceBytes(ds, field);
  return bytes === undefined ? undefined : utf8Decoder.decode(bytes);
}
