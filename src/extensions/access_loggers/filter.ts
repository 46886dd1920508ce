/**
 * Access log filters (`envoy.config.accesslog.v3.AccessLogFilter`): predicates over a finished
 * request or connection, used by access logs and by the connection manager's local reply
 * mappers. Compiled once; evaluation does no parsing. Semantics follow Envoy's: a TCP log has
 * no request headers (header filters see an empty map), a stream without a response has status
 * 0, the runtime filter samples by x-request-id unless told to use independent randomness.
 */
import type {
  AccessLogFilter,
  ComparisonFilter,
} from "../../../proto/gen/envoy/config/accesslog/v3/accesslog_pb.ts";
import type { FractionalPercent } from "../../../proto/gen/envoy/type/v3/percent_pb.ts";
import { HeaderMap } from "../../http/header_map.ts";
import { grpcStatusOf } from "../../formatter/http_commands.ts";
import { ACCESS_LOG_TYPES, type FormatContext } from "../../formatter/provider.ts";
import { compileHeaderMatcher } from "../../router/matchers.ts";
import { compileValueMatcher, metadataPath } from "../../router/value_matcher.ts";
import {
  RESPONSE_FLAGS,
  responseFlagBit,
  type ResponseFlagName,
} from "../../stream_info/stream_info.ts";

// ComparisonFilter.Op numbers, written out so the generated module graph is not loaded at
// run time.
const Op = { EQ: 0, GE: 1, LE: 2 } as const;

/** FractionalPercent.DenominatorType (HUNDRED, TEN_THOUSAND, MILLION) as numbers. */
const DENOMINATORS = [100, 10_000, 1_000_000];

/** gRPC's Unknown, what a stream without any status counts as. */
const GRPC_UNKNOWN = 2;

/** A compiled filter. */
export type AccessLogPredicate = (ctx: FormatContext) => boolean;

/**
 * Runtime values filters read by `runtime_key`: a number, a numeric string, or a fractional
 * percent (`{numerator, denominator}`); undefined when the key is not set.
 */
export type RuntimeLookup = (key: string) => unknown;

/** What compiling a filter may use. */
export interface FilterContext {
  /** The runtime; without one every runtime key takes its default. */
  runtime?: RuntimeLookup;
}

const EMPTY_HEADERS = new HeaderMap();

/** A runtime key's value as an unsigned integer, when it is one. */
function runtimeInteger(runtime: RuntimeLookup | undefined, key: string): number | undefined {
  if (!runtime || key === "") return undefined;
  const v = runtime(key);
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === "number" && Number.isInteger(n) && n >= 0 ? n : undefined;
}

function comparison(
  c: ComparisonFilter | undefined,
  field: string,
  runtime: RuntimeLookup | undefined,
): (v: number) => boolean {
  if (!c?.value) throw new Error(`${field}: comparison needs a value`);
  const { defaultValue, runtimeKey } = c.value;
  // Read at evaluation time, so runtime changes apply to the next request.
  const want = runtimeKey && runtime
    ? () => runtimeInteger(runtime, runtimeKey) ?? defaultValue
    : () => defaultValue;
  switch (c.op) {
    case Op.EQ:
      return (v) => v === want();
    case Op.GE:
      return (v) => v >= want();
    case Op.LE:
      return (v) => v <= want();
    default:
      throw new Error(`${field}: unknown comparison op ${c.op}`);
  }
}

/** The percentage that applies: the runtime's override, as Envoy's featureEnabled reads it. */
function samplingPercent(
  runtime: RuntimeLookup | undefined,
  key: string,
  fallback: { numerator: number; denominator: number },
): { numerator: number; denominator: number } {
  const v = runtime && key ? runtime(key) : undefined;
  if (typeof v === "object" && v !== null && "numerator" in v) {
    const p = v as { numerator: number; denominator?: number };
    return { numerator: p.numerator, denominator: p.denominator ?? 100 };
  }
  const n = runtimeInteger(runtime, key);
  // An integer is a percentage (denominator 100); above 100 always samples.
  if (n !== undefined) return { numerator: n > 100 ? 100 : n, denominator: 100 };
  return fallback;
}

/**
 * The number a request samples by: the first 8 hex digits of its UUID x-request-id (so one
 * request is sampled the same way everywhere), else a random one.
 */
function requestRandom(ctx: FormatContext, independent: boolean): number {
  if (!independent) {
    const id = (ctx.requestHeaders ?? ctx.streamInfo.requestHeaders)?.get("x-request-id");
    if (id !== undefined && /^[0-9a-fA-F]{8}/.test(id)) return parseInt(id.slice(0, 8), 16);
  }
  return Math.floor(Math.random() * 0x100000000);
}

function runtimeFilter(
  key: string,
  percent: FractionalPercent | undefined,
  independent: boolean,
  runtime: RuntimeLookup | undefined,
): AccessLogPredicate {
  const fallback = {
    numerator: percent?.numerator ?? 0,
    denominator: DENOMINATORS[percent?.denominator ?? 0] ?? 100,
  };
  return (ctx) => {
    const p = samplingPercent(runtime, key, fallback);
    return requestRandom(ctx, independent) % p.denominator < p.numerator;
  };
}

/**
 * Compiles a filter.
 *
 * @param field the filter's config path, for errors.
 * @throws {Error} naming the field, for bad filters and extension filters (none exist here).
 */
export function compileAccessLogFilter(
  f: AccessLogFilter,
  field = "filter",
  fctx: FilterContext = {},
): AccessLogPredicate {
  const s = f.filterSpecifier;
  const runtime = fctx.runtime;
  switch (s.case) {
    case "statusCodeFilter": {
      const cmp = comparison(s.value.comparison, `${field}.status_code_filter`, runtime);
      return (ctx) => cmp(ctx.streamInfo.responseCode ?? 0);
    }
    case "durationFilter": {
      const cmp = comparison(s.value.comparison, `${field}.duration_filter`, runtime);
      return (ctx) => cmp(Math.floor(ctx.streamInfo.duration ?? ctx.streamInfo.elapsed()));
    }
    case "notHealthCheckFilter":
      return (ctx) => !ctx.streamInfo.healthCheck;
    case "traceableFilter":
      // Envoy logs only requests whose trace was forced by the service (x-envoy-force-trace).
      return (ctx) => ctx.streamInfo.traceReason === "ServiceForced";
    case "runtimeFilter":
      return runtimeFilter(
        s.value.runtimeKey,
        s.value.percentSampled,
        s.value.useIndependentRandomness,
        runtime,
      );
    case "andFilter":
    case "orFilter": {
      const kind = s.case === "andFilter" ? "and" : "or";
      const parts = s.value.filters.map((x, i) =>
        compileAccessLogFilter(x, `${field}.${kind}_filter.filters[${i}]`, fctx)
      );
      if (parts.length < 2) {
        throw new Error(`${field}.${kind}_filter: filters needs at least 2 filters`);
      }
      return kind === "and"
        ? (ctx) => parts.every((p) => p(ctx))
        : (ctx) => parts.some((p) => p(ctx));
    }
    case "headerFilter": {
      if (!s.value.header) throw new Error(`${field}.header_filter needs a header`);
      const m = compileHeaderMatcher(s.value.header, `${field}.header_filter.header`);
      // A TCP log has no request: the matcher sees an empty header map, as in Envoy.
      return (ctx) => m(ctx.requestHeaders ?? ctx.streamInfo.requestHeaders ?? EMPTY_HEADERS);
    }
    case "responseFlagFilter": {
      const known = new Set<string>(RESPONSE_FLAGS.map(([short]) => short));
      let mask = 0;
      for (const flag of s.value.flags) {
        if (!known.has(flag)) {
          throw new Error(
            `${field}.response_flag_filter: unknown response flag '${flag}' (known: ${
              [...known].join(", ")
            })`,
          );
        }
        mask |= responseFlagBit(flag as ResponseFlagName);
      }
      // An empty list means "any flag set".
      return mask === 0
        ? (ctx) => ctx.streamInfo.responseFlags !== 0
        : (ctx) => (ctx.streamInfo.responseFlags & mask) !== 0;
    }
    case "grpcStatusFilter": {
      const statuses = new Set(s.value.statuses as number[]);
      const exclude = s.value.exclude;
      return (ctx) => {
        // User-defined codes are invalid here (-1), which no listed status matches.
        const found = statuses.has(grpcStatusOf(ctx, false) ?? GRPC_UNKNOWN);
        return exclude ? !found : found;
      };
    }
    case "metadataFilter": {
      const matcher = s.value.matcher;
      const keyMissing = s.value.matchIfKeyNotFound ?? true;
      if (!matcher) return () => keyMissing;
      const path = metadataPath(matcher);
      const value = matcher.value
        ? compileValueMatcher(matcher.value, `${field}.metadata_filter.matcher.value`)
        : undefined;
      return (ctx) => {
        const v = path(ctx.streamInfo.dynamicMetadata);
        // A key that is there must match the value; a missing one decides by itself.
        if (v !== undefined) return value !== undefined && value(v);
        return keyMissing;
      };
    }
    case "logTypeFilter": {
      const types = new Set(s.value.types.map((t) => ACCESS_LOG_TYPES[t as number]));
      const exclude = s.value.exclude;
      return (ctx) => {
        const found = types.has(ctx.accessLogType ?? "NotSet");
        return exclude ? !found : found;
      };
    }
    case "extensionFilter":
      throw new Error(
        `${field}.extension_filter: access log filter extension '${s.value.name}' is not ` +
          "supported (no filter extensions are built in)",
      );
    default:
      throw new Error(`${field}: access log filter needs a filter_specifier`);
  }
}
