/**
 * Metadata and filter state operators: `%DYNAMIC_METADATA(NAMESPACE:KEY:...):Z%`,
 * `%CLUSTER_METADATA(...)%`, `%UPSTREAM_METADATA(...)%`, `%METADATA(TYPE:NAMESPACE:KEY...)%` and
 * `%FILTER_STATE(KEY:PLAIN|TYPED|FIELD:NAME):Z%` (and its upstream twin). Typed JSON logs get
 * the data itself (objects stay objects); text logs get it serialized as JSON, except that
 * PLAIN filter state and metadata strings are printed bare. The length limit applies to text
 * only, as in Envoy.
 */
import type { StreamInfo } from "../stream_info/stream_info.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import type { FormatContext, Provider } from "./provider.ts";

/** A filter state object that knows its own plain-text form (Envoy's serializeAsString). */
export interface PlainSerializable {
  serializeAsString(): string | undefined;
}

/** A filter state object with named fields (Envoy's getField), for `FILTER_STATE(KEY:FIELD:NAME)`. */
export interface FieldAccessible {
  getField(name: string): string | number | undefined;
}

function hasPlainForm(v: unknown): v is PlainSerializable {
  return typeof v === "object" && v !== null &&
    typeof (v as Partial<PlainSerializable>).serializeAsString === "function";
}

function hasFields(v: unknown): v is FieldAccessible {
  return typeof v === "object" && v !== null &&
    typeof (v as Partial<FieldAccessible>).getField === "function";
}

/** JSON text of `v`, or undefined for values JSON cannot carry (functions, undefined). */
function json(v: unknown): string | undefined {
  return v === undefined || typeof v === "function" ? undefined : JSON.stringify(v);
}

function cut(s: string | undefined, maxLength: number | undefined): string | undefined {
  return s === undefined || maxLength === undefined ? s : s.slice(0, maxLength);
}

type FilterStateOf = (si: StreamInfo) => ReadonlyMap<string, unknown> | undefined;

function filterState(of: FilterStateOf) {
  return (arg: string, maxLength: number | undefined): Provider => {
    const [key, serialization = "", field = "", ...rest] = arg.split(":");
    if (key === "") throw new Error("Invalid filter state configuration, key cannot be empty.");
    const kind = serialization || "TYPED";
    if (rest.length > 0 || (kind !== "PLAIN" && kind !== "TYPED" && kind !== "FIELD")) {
      throw new Error("Invalid filter state serialize type, only support PLAIN/TYPED/FIELD.");
    }
    if ((kind === "FIELD") !== (field !== "")) {
      throw new Error(
        "Invalid filter state serialize type, FIELD should be used with the field name.",
      );
    }
    const get = (ctx: FormatContext) => of(ctx.streamInfo)?.get(key);
    if (kind === "FIELD") {
      const fieldText = (ctx: FormatContext) => {
        const v = get(ctx);
        let f: unknown;
        if (hasFields(v)) f = v.getField(field);
        else if (typeof v === "object" && v !== null) f = (v as Record<string, unknown>)[field];
        return typeof f === "string" ? f : typeof f === "number" ? String(f) : undefined;
      };
      // Envoy renders a field as a string in typed JSON too.
      const text = (ctx: FormatContext) => cut(fieldText(ctx), maxLength);
      return { text, value: text };
    }
    if (kind === "PLAIN") {
      const plainText = (ctx: FormatContext) => {
        const v = get(ctx);
        if (hasPlainForm(v)) return v.serializeAsString();
        return typeof v === "string" ? v : json(v);
      };
      const text = (ctx: FormatContext) => cut(plainText(ctx), maxLength);
      return { text, value: text };
    }
    return {
      text: (ctx) => cut(json(get(ctx)), maxLength),
      value(ctx) {
        const v = get(ctx);
        return typeof v === "function" ? undefined : v;
      },
    };
  };
}

/** A `filter_metadata` map: JSON per namespace. */
type MetadataOf = (ctx: FormatContext) => Readonly<Record<string, unknown>> | undefined;

/** Walks `namespace:key:key...` through metadata; undefined when any step is missing. */
function metadataProvider(of: MetadataOf, arg: string, maxLength: number | undefined): Provider {
  const [namespace, ...path] = arg.split(":");
  const get = (ctx: FormatContext): unknown => {
    let v: unknown = of(ctx)?.[namespace];
    for (const key of path) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
      v = (v as Record<string, unknown>)[key];
    }
    return v === null ? undefined : v;
  };
  return {
    text(ctx) {
      const v = get(ctx);
      return cut(typeof v === "string" ? v : json(v), maxLength);
    },
    value: get,
  };
}

function metadataCommand(of: MetadataOf): CommandSpec {
  return {
    params: "required",
    length: true,
    create: (arg, maxLength) => metadataProvider(of, arg, maxLength),
  };
}

type FilterMetadata = { filterMetadata?: Readonly<Record<string, unknown>> } | undefined;
const filterMetadata = (m: FilterMetadata) => m?.filterMetadata;

/** Where each `%METADATA(TYPE:...)%` type reads from. */
const METADATA_SOURCES: Record<string, MetadataOf> = {
  DYNAMIC: (ctx) => ctx.streamInfo.dynamicMetadata,
  CLUSTER: (ctx) => ctx.streamInfo.upstreamClusterDescription?.metadata,
  UPSTREAM_HOST: (ctx) => ctx.streamInfo.upstreamHostDescription?.metadata,
  ROUTE: (ctx) => filterMetadata(ctx.streamInfo.route?.route.config?.metadata),
  VIRTUAL_HOST: (ctx) => filterMetadata(ctx.streamInfo.route?.virtualHost.config.metadata),
  LISTENER: (ctx) => ctx.streamInfo.filterChain?.listenerMetadata,
  LISTENER_FILTER_CHAIN: (ctx) => ctx.streamInfo.filterChain?.metadata,
};

const metadata: CommandSpec = {
  params: "required",
  length: true,
  create(arg, maxLength) {
    const colon = arg.indexOf(":");
    const type = colon < 0 ? arg : arg.slice(0, colon);
    if (!Object.hasOwn(METADATA_SOURCES, type)) {
      throw new Error(
        `METADATA: unknown metadata type '${type}' (one of ${
          Object.keys(METADATA_SOURCES).join(", ")
        })`,
      );
    }
    if (colon < 0 || colon === arg.length - 1) {
      throw new Error(`METADATA: '${arg}' names no metadata namespace`);
    }
    return metadataProvider(METADATA_SOURCES[type], arg.slice(colon + 1), maxLength);
  },
};

/** Filter state and metadata operators by name. */
export const METADATA_COMMANDS: CommandTable = {
  FILTER_STATE: { params: "optional", length: true, create: filterState((si) => si.filterState) },
  UPSTREAM_FILTER_STATE: {
    params: "optional",
    length: true,
    create: filterState((si) => si.upstreamFilterState),
  },
  DYNAMIC_METADATA: metadataCommand(METADATA_SOURCES.DYNAMIC),
  CLUSTER_METADATA: metadataCommand(METADATA_SOURCES.CLUSTER),
  UPSTREAM_METADATA: metadataCommand(METADATA_SOURCES.UPSTREAM_HOST),
  METADATA: metadata,
};
