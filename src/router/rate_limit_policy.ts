/**
 * A route's or virtual host's `rate_limits` (Envoy's `RateLimitPolicyImpl`): each entry's
 * actions make one rate limit descriptor from the request, for the rate limit filters to look
 * up. An entry whose action cannot produce its part (a missing header, a header match that
 * fails) makes no descriptor; `skip_if_absent` lets a missing header add nothing instead.
 *
 * Implemented actions: `source_cluster`, `destination_cluster`, `request_headers`,
 * `remote_address`, `masked_remote_address`, `generic_key`, `header_value_match`,
 * `query_parameter_value_match`, `metadata`; the others (`dynamic_metadata`, `extension`),
 * and `limit`, are refused (route_fields.ts).
 *
 * @module
 */
import type { RateLimit } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { MetadataKey } from "../../proto/gen/envoy/type/metadata/v3/metadata_pb.ts";
import type { HeaderMap } from "../http/header_map.ts";
import { addressWithoutPort, maskedAddress } from "../formatter/address.ts";
import { isIP } from "../common/ip.ts";
import {
  compileHeaderMatchers,
  compileQueryParameterMatcher,
  type HeaderPredicate,
} from "./matchers.ts";

/** One descriptor: its entries in order, as `[key, value]`. */
export type RateLimitDescriptor = readonly (readonly [string, string])[];

/** What the actions read from the request. */
export interface DescriptorContext {
  readonly headers: HeaderMap;
  /** The downstream client address (`ip:port` or `[ip]:port`), as trusted for XFF. */
  readonly remoteAddress: string;
  /** The cluster the route sends to (`destination_cluster`). */
  readonly clusterName: string | undefined;
  /** This server's service cluster (`source_cluster`). */
  readonly localServiceCluster: string;
  /** The route's `metadata.filter_metadata` (`metadata` with source ROUTE_ENTRY). */
  readonly routeMetadata: Readonly<Record<string, unknown>> | undefined;
  /** The stream's dynamic metadata (`metadata` with source DYNAMIC). */
  readonly dynamicMetadata: Readonly<Record<string, unknown>> | undefined;
}

/** `RateLimit.Action.MetaData.Source`. */
const ROUTE_ENTRY = 1;

/** The string at `key` (a filter name, then struct fields) in `metadata`; "" for anything else. */
function metadataString(
  metadata: Readonly<Record<string, unknown>> | undefined,
  key: MetadataKey,
): string {
  let v: unknown = metadata?.[key.key];
  for (const p of key.path) {
    if (v === null || typeof v !== "object" || Array.isArray(v) || p.segment.case !== "key") {
      return "";
    }
    v = (v as Record<string, unknown>)[p.segment.value];
  }
  return typeof v === "string" ? v : "";
}

/** Adds its descriptor entry (or nothing); false when the descriptor must not be made. */
type Action = (out: [string, string][], ctx: DescriptorContext) => boolean;

/** One compiled `rate_limits` entry. */
export interface RateLimitPolicyEntry {
  readonly stage: number;
  readonly disableKey: string;
  /** The entry's descriptor for this request, or undefined when it makes none. */
  descriptor(ctx: DescriptorContext): RateLimitDescriptor | undefined;
}

/** A level's `rate_limits`; empty when none are configured. */
export type RateLimitPolicy = readonly RateLimitPolicyEntry[];

/** The policy with no entries. */
export const EMPTY_RATE_LIMIT_POLICY: RateLimitPolicy = [];

/** The client's IP (no port, no brackets); undefined when the address is not an IP. */
function remoteIp(address: string): string | undefined {
  const ip = addressWithoutPort(address);
  return isIP(ip) === 0 ? undefined : ip;
}

function compileAction(a: RateLimit["actions"][number], field: string): Action {
  const s = a.actionSpecifier;
  switch (s.case) {
    case "sourceCluster":
      return (out, ctx) => (out.push(["source_cluster", ctx.localServiceCluster]), true);
    case "destinationCluster":
      return (out, ctx) => {
        if (ctx.clusterName === undefined) return false;
        out.push(["destination_cluster", ctx.clusterName]);
        return true;
      };
    case "requestHeaders": {
      const name = s.value.headerName.toLowerCase();
      const key = s.value.descriptorKey;
      const skip = s.value.skipIfAbsent;
      return (out, ctx) => {
        const v = ctx.headers.get(name);
        if (v === undefined) return skip;
        out.push([key, v]);
        return true;
      };
    }
    case "remoteAddress":
      return (out, ctx) => {
        const ip = remoteIp(ctx.remoteAddress);
        if (ip === undefined) return false;
        out.push(["remote_address", ip]);
        return true;
      };
    case "maskedRemoteAddress": {
      const v4 = s.value.v4PrefixMaskLen ?? 32;
      const v6 = s.value.v6PrefixMaskLen ?? 128;
      return (out, ctx) => {
        const ip = remoteIp(ctx.remoteAddress);
        if (ip === undefined) return false;
        out.push(["masked_remote_address", maskedAddress(ip, isIP(ip) === 6 ? v6 : v4)]);
        return true;
      };
    }
    case "genericKey": {
      const value = s.value.descriptorValue;
      const key = s.value.descriptorKey || "generic_key";
      return (out) => (out.push([key, value]), true);
    }
    case "headerValueMatch": {
      const v = s.value;
      const match: HeaderPredicate = compileHeaderMatchers(
        v.headers,
        `${field}.header_value_match.headers`,
      )!;
      const expect = v.expectMatch ?? true;
      const key = v.descriptorKey || "header_match";
      const value = v.descriptorValue;
      return (out, ctx) => {
        if (match(ctx.headers) !== expect) return false;
        out.push([key, value]);
        return true;
      };
    }
    case "queryParameterValueMatch": {
      const v = s.value;
      const matchers = v.queryParameters.map((q, i) =>
        compileQueryParameterMatcher(
          q,
          `${field}.query_parameter_value_match.query_parameters[${i}]`,
        )
      );
      const expect = v.expectMatch ?? true;
      const key = v.descriptorKey || "query_match";
      const value = v.descriptorValue;
      return (out, ctx) => {
        const path = ctx.headers.get(":path") ?? "";
        const qs = path.indexOf("?");
        if (matchers.every((m) => m(path, qs)) !== expect) return false;
        out.push([key, value]);
        return true;
      };
    }
    case "metadata": {
      const v = s.value;
      const key = v.metadataKey!;
      const fromRoute = v.source === ROUTE_ENTRY;
      return (out, ctx) => {
        const value = metadataString(fromRoute ? ctx.routeMetadata : ctx.dynamicMetadata, key) ||
          v.defaultValue;
        if (value === "") return v.skipIfAbsent;
        out.push([v.descriptorKey, value]);
        return true;
      };
    }
    default:
      throw new Error(`${field}: rate limit action ${s.case ?? "(none)"} is not supported`);
  }
}

/**
 * Compiles a level's `rate_limits`. `field` is the path of the list, e.g.
 * `virtual_hosts[0].routes[2].route.rate_limits`.
 *
 * What the API's own rules refuse (empty values, stage above 10, ...) the loader has refused.
 *
 * @throws {Error} for actions denvoy does not implement, and header or query matchers it
 *   refuses.
 */
export function compileRateLimitPolicy(list: readonly RateLimit[], field: string): RateLimitPolicy {
  if (list.length === 0) return EMPTY_RATE_LIMIT_POLICY;
  return list.map((r, i) => {
    const at = `${field}[${i}]`;
    const stage = r.stage ?? 0;
    const actions = r.actions.map((a, j) => compileAction(a, `${at}.actions[${j}]`));
    return {
      stage,
      disableKey: r.disableKey,
      descriptor(ctx: DescriptorContext): RateLimitDescriptor | undefined {
        const out: [string, string][] = [];
        for (let j = 0; j < actions.length; j++) if (!actions[j](out, ctx)) return undefined;
        return out.length > 0 ? out : undefined;
      },
    };
  });
}
