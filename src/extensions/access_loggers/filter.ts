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
import { HeaderMap } from "../../http/header_map.ts";
import { grpcStatusOf } from "../../formatter/http_commands.ts";
import { ACCESS_LOG_TYPES, type FormatContext } from "../../formatter/provider.ts";
import { runtimeSnapshot } from "../../runtime/runtime.ts";
import { DENOMINATORS } from "../../runtime/snapshot.ts";
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

/** gRPC's Unknown, what a stream without any status counts as. */
const GRPC_UNKNOWN = 2;

/** A compiled filter. */
export type AccessLogPredicate = (ctx: FormatContext) => boolean;

const EMPTY_HEADERS = new HeaderMap();

function comparison(c: ComparisonFilter | undefined, field: string): (v: number) => boolean {
  if (!c?.value) throw new Error(`${field}: comparison needs a value`);
  const { defaultValue, runtimeKey } = c.value;
  // Read from the live snapshot at evaluation time, so runtime changes apply to the next
  // request (as in Envoy).
  const want = runtimeKey
    ? () => runtimeSnapshot().getInteger(runtimeKey, defaultValue)
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

/** A uniformly random value in [0, 2^32). */
function randomValue(): number {
  return Math.floor(Math.random() * 0x1_0000_0000);
}

/**
 * The random value Envoy's runtime filter takes from the request id: its leading 32 bits when
 * it is a UUID (so every sampling decision for one request agrees), else undefined.
 */
function requestIdRandom(ctx: FormatContext): number | undefined {
  const id = ctx.streamInfo.streamId ??
    (ctx.requestHeaders ?? ctx.streamInfo.requestHeaders)?.get("x-request-id");
  if (!id || !/^[0-9a-fA-F]{8}-/.test(id)) return undefined;
  return parseInt(id.slice(0, 8), 16);
}

/**
 * Compiles a filter.
 *
 * @param field the filter's config path, for errors.
 * @throws {Error} naming the field, for bad filters and extension filters (none exist here).
 */
export function compileAccessLogFilter(f: AccessLogFilter, field = "filter"): AccessLogPredicate {
  const s = f.filterSpecifier;
  switch (s.case) {
    case "statusCodeFilter": {
      const cmp = comparison(s.value.comparison, `${field}.status_code_filter`);
      return (ctx) => cmp(ctx.streamInfo.responseCode ?? 0);
    }
    case "durationFilter": {
      const cmp = comparison(s.value.comparison, `${field}.duration_filter`);
      return (ctx) => cmp(Math.floor(ctx.streamInfo.duration ?? ctx.streamInfo.elapsed()));
    }
    case "notHealthCheckFilter":
      return (ctx) => !ctx.streamInfo.healthCheck;
    case "traceableFilter":
      // Envoy logs only requests whose trace was forced by the service (x-envoy-force-trace).
      return (ctx) => ctx.streamInfo.traceReason === "ServiceForced";
    case "runtimeFilter": {
      // The runtime key's percentage (live snapshot) or percent_sampled, Envoy's featureEnabled.
      const { runtimeKey, percentSampled: p, useIndependentRandomness } = s.value;
      const dflt = { numerator: p?.numerator ?? 0, denominator: DENOMINATORS[p?.denominator ?? 0] };
      return (ctx) =>
        runtimeSnapshot().featureEnabled(
          runtimeKey,
          dflt,
          useIndependentRandomness ? randomValue() : requestIdRandom(ctx) ?? randomValue(),
        );
    }
    case "andFilter":
    case "orFilter": {
      const kind = s.case === "andFilter" ? "and" : "or";
      const parts = s.value.filters.map((x, i) =>
        compileAccessLogFilter(x, `${field}.${kind}_filter.filters[${i}]`)
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
