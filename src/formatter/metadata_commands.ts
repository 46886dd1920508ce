/**
 * `%FILTER_STATE(KEY:PLAIN|TYPED):Z%` and `%DYNAMIC_METADATA(NAMESPACE:KEY:...):Z%`: data
 * filters leave on the stream. Typed JSON logs get the data itself (objects stay objects);
 * text logs get it serialized as JSON, except that PLAIN filter state and metadata strings
 * are printed bare. The length limit applies to text only, as in Envoy.
 */
import type { CommandTable } from "./command.ts";
import type { FormatContext, Provider } from "./provider.ts";

/** A filter state object that knows its own plain-text form (Envoy's serializeAsString). */
export interface PlainSerializable {
  serializeAsString(): string | undefined;
}

function hasPlainForm(v: unknown): v is PlainSerializable {
  return typeof v === "object" && v !== null &&
    typeof (v as Partial<PlainSerializable>).serializeAsString === "function";
}

/** JSON text of `v`, or undefined for values JSON cannot carry (functions, undefined). */
function json(v: unknown): string | undefined {
  return v === undefined ? undefined : JSON.stringify(v);
}

function cut(s: string | undefined, maxLength: number | undefined): string | undefined {
  return s === undefined || maxLength === undefined ? s : s.slice(0, maxLength);
}

function filterState(arg: string, maxLength: number | undefined): Provider {
  const [key, serialization = "TYPED", ...rest] = arg.split(":");
  if (key === "") throw new Error("Invalid filter state configuration, key cannot be empty.");
  if (rest.length > 0 || (serialization !== "PLAIN" && serialization !== "TYPED")) {
    throw new Error("Invalid filter state serialize type, only support PLAIN/TYPED.");
  }
  const get = (ctx: FormatContext) => ctx.streamInfo.filterState.get(key);
  if (serialization === "PLAIN") {
    const plainText = (ctx: FormatContext) => {
      const v = get(ctx);
      if (hasPlainForm(v)) return v.serializeAsString();
      return typeof v === "string" ? v : json(v);
    };
    return { text: (ctx) => cut(plainText(ctx), maxLength), value: plainText };
  }
  return {
    text: (ctx) => cut(json(get(ctx)), maxLength),
    value(ctx) {
      const v = get(ctx);
      return typeof v === "function" ? undefined : v;
    },
  };
}

function dynamicMetadata(arg: string, maxLength: number | undefined): Provider {
  const [namespace, ...path] = arg.split(":");
  const get = (ctx: FormatContext): unknown => {
    let v: unknown = ctx.streamInfo.dynamicMetadata[namespace];
    for (const key of path) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
      v = (v as Record<string, unknown>)[key];
    }
    return v;
  };
  return {
    text(ctx) {
      const v = get(ctx);
      return cut(typeof v === "string" ? v : json(v), maxLength);
    },
    value: get,
  };
}

/** Filter state and metadata operators by name. */
export const METADATA_COMMANDS: CommandTable = {
  FILTER_STATE: { params: "required", length: true, create: filterState },
  DYNAMIC_METADATA: { params: "required", length: true, create: dynamicMetadata },
};
