/**
 * A `ConfigSource` (where a type's resources come from) checked and turned into a
 * {@linkcode Subscription}. Implemented: the filesystem (`path_config_source`, and the
 * deprecated `path`), REST polling (`api_config_source` REST), gRPC streams
 * (`api_config_source` GRPC and DELTA_GRPC over an `envoy_grpc` cluster) and ADS (`ads: {}`
 * over the bootstrap's `ads_config`; `google_grpc` is served the same way, to its
 * `target_uri`). `xdstp://` names as Envoy takes them: glob collections (the
 * `*_resources_locator` fields) over ADS or a DELTA_GRPC stream, and singleton names over the
 * ADS stream of their authority's bootstrap `config_sources` entry (or the
 * `default_config_source`), where AGGREGATED_GRPC / AGGREGATED_DELTA_GRPC api types serve.
 * Refused with a clear message (issue 13): those api types elsewhere, `self`.
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type {
  ApiConfigSource,
  ConfigSource,
} from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
// Types only: workers validate config sources, but gRPC streams (and the discovery services'
// protos, a large share of a worker's start-up) live on the main thread.
import type { GrpcXds } from "./grpc_subscription.ts";
import { parseTargetUri } from "../grpc/target_uri.ts";
import { RestSubscription } from "./rest_subscription.ts";
import { durationMs } from "../common/duration.ts";
import type { DecodeContext } from "./decode.ts";
import { type FilesystemSource, FilesystemSubscription } from "./filesystem_subscription.ts";
import type { ResourceType } from "./resource_types.ts";
import type { Subscription, SubscriptionCallbacks } from "./subscription.ts";
import type { SubscriptionStats } from "./subscription_stats.ts";
import { runtimeSnapshot } from "../runtime/runtime.ts";
import { decodeXdstpLocator, decodeXdstpName, isXdstp, normalName } from "./xdstp.ts";

/** Envoy's `api_config_source.request_timeout` when unset. */
const DEFAULT_REST_REQUEST_TIMEOUT_MS = 1000;

/** Envoy's `initial_fetch_timeout` when unset. */
const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

/** `ApiConfigSource.ApiType` names by value. */
const API_TYPES: Readonly<Record<number, string>> = {
  0: "DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE",
  1: "REST",
  2: "GRPC",
  3: "DELTA_GRPC",
  5: "AGGREGATED_GRPC",
  6: "AGGREGATED_DELTA_GRPC",
};

/** Why a config source cannot be used, with the field it is about. */
export interface ConfigSourceProblem {
  /** Relative to the ConfigSource ("" for the source itself). */
  field: string;
  message: string;
  /** Valid in Envoy, not implemented here yet (reported like an unsupported extension). */
  unsupported: boolean;
}

/**
 * What is wrong with a gRPC `api_config_source` (or the bootstrap's `ads_config`); `at` is
 * its path relative to the ConfigSource.
 */
export function grpcApiConfigSourceProblems(
  api: ApiConfigSource,
  at: string,
  /** An xdstp authority's source: AGGREGATED_GRPC and AGGREGATED_DELTA_GRPC instead. */
  aggregated = false,
): ConfigSourceProblem[] {
  const out: ConfigSourceProblem[] = [];
  const name = API_TYPES[api.apiType] ?? String(api.apiType);
  if (aggregated) {
    if (name !== "AGGREGATED_GRPC" && name !== "AGGREGATED_DELTA_GRPC") {
      out.push({
        field: `${at}.api_type`,
        message: "xdstp-based config source authority only supports AGGREGATED_GRPC and " +
          "AGGREGATED_DELTA_GRPC types.",
        unsupported: false,
      });
      return out;
    }
  } else if (name !== "GRPC" && name !== "DELTA_GRPC") {
    out.push({
      field: `${at}.api_type`,
      message: name === "DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE"
        ? "api_type must be set (REST, GRPC or DELTA_GRPC)"
        : `api_config_source ${name} is not supported yet (issue 13): use GRPC or DELTA_GRPC`,
      unsupported: name !== "DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE",
    });
    return out;
  }
  if (api.clusterNames.length > 0) {
    out.push({
      field: `${at}.cluster_names`,
      message: `envoy::config::core::v3::ConfigSource::(DELTA_)GRPC must not have a cluster ` +
        `name specified: ${api.clusterNames.join(",")}`,
      unsupported: false,
    });
  }
  if (api.grpcServices.length !== 1) {
    out.push({
      field: `${at}.grpc_services`,
      message: "API configs must have a single gRPC service specified",
      unsupported: false,
    });
  } else {
    const t = api.grpcServices[0].targetSpecifier;
    if (t.case === "googleGrpc") {
      if (!parseTargetUri(t.value.targetUri)) {
        out.push({
          field: `${at}.grpc_services[0].google_grpc.target_uri`,
          message: `google_grpc target_uri '${t.value.targetUri}' must be host:port`,
          unsupported: false,
        });
      }
    } else if (t.case !== "envoyGrpc") {
      out.push({
        field: `${at}.grpc_services[0]`,
        message: "a gRPC service needs envoy_grpc or google_grpc",
        unsupported: false,
      });
    }
  }
  return out;
}

/** The `envoy_grpc` cluster of a gRPC api config source, if it names one. */
export function grpcClusterName(api: ApiConfigSource): string | undefined {
  const t = api.grpcServices[0]?.targetSpecifier;
  return t?.case === "envoyGrpc" ? t.value.clusterName : undefined;
}

/**
 * What is wrong with `cs` for fetching resources of `type`; empty when it can be used. An
 * absent source is checked as an empty one.
 */
export function configSourceProblems(
  cs: ConfigSource | undefined,
  type: ResourceType,
): ConfigSourceProblem[] {
  const out: ConfigSourceProblem[] = [];
  if (!type.supported) {
    out.push({
      field: "",
      message: `${type.service} (${type.typeUrl}) is not supported yet (issue 13)`,
      unsupported: true,
    });
  }
  if (cs && cs.authorities.length > 0) {
    out.push({
      field: "authorities",
      message: "authorities are only used in the bootstrap's config_sources and " +
        "default_config_source (issue 13)",
      unsupported: true,
    });
  }
  // ApiVersion: AUTO (0) and V3 (2) are v3; V2 (1) was removed from Envoy.
  if (cs?.resourceApiVersion === 1) {
    out.push({
      field: "resource_api_version",
      message: "the V2 xDS API is no longer supported: use V3",
      unsupported: false,
    });
  }
  const spec = cs?.configSourceSpecifier;
  switch (spec?.case) {
    case "path":
    case "pathConfigSource":
      break;
    case "apiConfigSource": {
      const api = spec.value;
      if (api.transportApiVersion === 1) {
        out.push({
          field: "api_config_source.transport_api_version",
          message: "the V2 xDS transport is no longer supported: use V3",
          unsupported: false,
        });
      }
      const name = API_TYPES[api.apiType] ?? String(api.apiType);
      if (name === "REST") {
        // Envoy's checks of a REST source (its cluster is checked when subscribing).
        if (api.clusterNames.length !== 1) {
          out.push({
            field: "api_config_source.cluster_names",
            message: "API configs must have a single cluster name specified",
            unsupported: false,
          });
        }
        if (!api.refreshDelay) {
          out.push({
            field: "api_config_source.refresh_delay",
            message: "refresh_delay is required for REST API configuration sources",
            unsupported: false,
          });
        }
        break;
      }
      out.push(...grpcApiConfigSourceProblems(api, "api_config_source"));
      break;
    }
    case "ads":
      break;
    case "self":
      out.push({
        field: "self",
        message: "self config sources are not supported yet (issue 13)",
        unsupported: true,
      });
      break;
    default:
      out.push({
        field: "",
        message: "a config source needs one of path_config_source, api_config_source, ads",
        unsupported: false,
      });
  }
  return out;
}

/**
 * What is wrong with a bootstrap `config_sources` entry (`isDefault`: the
 * `default_config_source`): each is an ADS stream of its own for the `xdstp://` names of its
 * authorities, with Envoy's checks.
 */
export function authoritySourceProblems(
  cs: ConfigSource,
  isDefault: boolean,
): ConfigSourceProblem[] {
  const spec = cs.configSourceSpecifier;
  if (spec.case !== "apiConfigSource") {
    return [{
      field: "",
      message: "Only api_config_source type is currently supported for xdstp-based config sources.",
      unsupported: false,
    }];
  }
  const out: ConfigSourceProblem[] = [];
  if (!isDefault && cs.authorities.length === 0) {
    out.push({
      field: "authorities",
      message: "xdstp-based non-default config source must have at least one authority.",
      unsupported: false,
    });
  }
  const seen = new Set<string>();
  cs.authorities.forEach((a, i) => {
    if (seen.has(a.name)) {
      out.push({
        field: `authorities[${i}].name`,
        message: `xdstp-based config source authority ${a.name} is configured more than once ` +
          "in an xdstp-based config source.",
        unsupported: false,
      });
    }
    seen.add(a.name);
  });
  if (cs.resourceApiVersion === 1 || spec.value.transportApiVersion === 1) {
    out.push({
      field: "api_config_source.transport_api_version",
      message: "the V2 xDS transport is no longer supported: use V3",
      unsupported: false,
    });
  }
  out.push(...grpcApiConfigSourceProblems(spec.value, "api_config_source", true));
  return out;
}

/** `ApiConfigSource.ApiType` values that mean the bootstrap's ADS for a collection. */
const AGGREGATED = new Set([5, 6]);

/**
 * What is wrong with fetching the glob collection `locator` of `type` (`lds_resources_locator`
 * with `lds_config`, `cds_resources_locator` with `cds_config`, `srds_resources_locator` with
 * `scoped_rds_config_source`) as Envoy's collection subscriptions: an `xdstp:` locator of the
 * type, over ADS or a DELTA_GRPC stream. Each problem is `of` the locator or the config source
 * (`field` then relative to it).
 */
export function collectionProblems(
  locator: string,
  cs: ConfigSource | undefined,
  type: ResourceType,
): (ConfigSourceProblem & { of: "locator" | "config" })[] {
  let decoded;
  try {
    decoded = decodeXdstpLocator(locator);
  } catch (e) {
    return [{ of: "locator", field: "", message: (e as Error).message, unsupported: false }];
  }
  if (decoded.scheme === "file") {
    return [{
      of: "locator",
      field: "",
      message: "file:// collection locators are not supported yet (issue 13)",
      unsupported: true,
    }];
  }
  if (decoded.scheme !== "xdstp") {
    return [{
      of: "locator",
      field: "",
      message: "an http: collection locator is not supported by Envoy (Unsupported code path)",
      unsupported: false,
    }];
  }
  const typeName = type.typeUrl.slice(type.typeUrl.indexOf("/") + 1);
  if (decoded.resourceType !== typeName) {
    return [{
      of: "locator",
      field: "",
      message: `xdstp:// type does not match ${typeName} in ${locator}`,
      unsupported: false,
    }];
  }
  if (decoded.directives.length > 0) {
    return [{
      of: "locator",
      field: "",
      message: `directives (#${decoded.directives.join(",")}) in a collection locator are not ` +
        "supported yet (issue 13)",
      unsupported: true,
    }];
  }
  const spec = cs?.configSourceSpecifier;
  const out: (ConfigSourceProblem & { of: "locator" | "config" })[] = [];
  if (cs && spec?.case === "apiConfigSource") {
    if (spec.value.apiType === 3) {
      for (const p of configSourceProblems(cs, type)) out.push({ ...p, of: "config" });
    } else if (AGGREGATED.has(spec.value.apiType)) {
      // The bootstrap's ADS carries it: the api type is right here, the rest is checked.
      for (const p of configSourceProblems(cs, type)) {
        if (p.field !== "api_config_source.api_type") out.push({ ...p, of: "config" });
      }
    } else {
      out.push({
        of: "config",
        field: "api_config_source.api_type",
        message: `Unknown xdstp:// transport API type in ${API_TYPES[spec.value.apiType]}`,
        unsupported: false,
      });
    }
  } else if (cs && spec?.case === "ads") {
    for (const p of configSourceProblems(cs, type)) out.push({ ...p, of: "config" });
  } else {
    out.push({
      of: "config",
      field: "",
      message: "Missing or not supported config source specifier in " +
        "envoy::config::core::v3::ConfigSource for a collection. Only ADS and gRPC in " +
        "delta-xDS mode are supported.",
      unsupported: false,
    });
  }
  return out;
}

/** Whether a collection's config source takes it over the bootstrap's ADS. */
function overAds(cs: ConfigSource): boolean {
  const spec = cs.configSourceSpecifier;
  return spec.case === "ads" ||
    spec.case === "apiConfigSource" && AGGREGATED.has(spec.value.apiType);
}

/** The bootstrap's `xdstp://` config sources. */
export interface XdstpSources {
  /** `config_sources`: each serves the names of its `authorities`. */
  configSources: readonly ConfigSource[];
  /** `default_config_source`: the names of any other authority. */
  defaultConfigSource?: ConfigSource;
}

/**
 * Envoy's runtime guard (false by default) under which an `xdstp://` name of a singleton
 * resource (EDS `service_name`, RDS `route_config_name`) is fetched from the config source of
 * its authority rather than from the config source that names it.
 */
export const XDSTP_SINGLETONS =
  "envoy.reloadable_features.xdstp_based_config_singleton_subscriptions";

/**
 * The bootstrap config source serving `xdstp://` name `name` (its authority's in
 * `config_sources`, else `default_config_source`), when the runtime guard is on; undefined to
 * use the referring config source.
 */
export function authoritySourceOf(
  name: string,
  sources: XdstpSources | undefined,
): ConfigSource | undefined {
  if (!sources || !isXdstp(name) || !runtimeSnapshot().getBoolean(XDSTP_SINGLETONS, false)) {
    return undefined;
  }
  const { authority } = decodeXdstpName(name);
  return sources.configSources.find((cs) => cs.authorities.some((a) => a.name === authority)) ??
    sources.defaultConfigSource;
}

/** The file and watched directory of a filesystem config source. */
export function filesystemSource(cs: ConfigSource): FilesystemSource | undefined {
  const spec = cs.configSourceSpecifier;
  if (spec.case === "path") return { path: spec.value };
  if (spec.case !== "pathConfigSource") return undefined;
  const dir = spec.value.watchedDirectory?.path;
  return { path: spec.value.path, ...(dir ? { watchedDirectory: dir } : {}) };
}

/** `initial_fetch_timeout` in ms (0: wait for ever). */
export function initialFetchTimeoutMs(cs: ConfigSource): number {
  return durationMs(cs.initialFetchTimeout, DEFAULT_INITIAL_FETCH_TIMEOUT_MS);
}

/** What REST subscriptions need of the server. */
export interface SubscriptionEnv {
  /** The node (proto JSON) requests carry. */
  node: JsonObject;
  /**
   * A host of cluster `name` for a REST poll; throws when the cluster cannot serve a config
   * source (missing, or itself discovered by xDS).
   */
  hostOf(name: string): () => { address: string; port: number } | undefined;
  /** The gRPC streams (ADS and per-type). */
  grpc?: GrpcXds;
  /** The bootstrap's `config_sources` and `default_config_source`. */
  xdstp?: XdstpSources;
}

/**
 * The subscription to singleton resource `name` of `type` referred to with config source
 * `cs`: over the ADS stream of the name's authority when it is an `xdstp://` name the
 * bootstrap's config sources serve (see {@linkcode authoritySourceOf}), else from `cs`.
 */
export function createSingletonSubscription(
  name: string,
  cs: ConfigSource,
  type: ResourceType,
  stats: SubscriptionStats,
  decode: DecodeContext,
  callbacks: SubscriptionCallbacks,
  env: SubscriptionEnv,
): Subscription {
  const source = authoritySourceOf(name, env.xdstp);
  if (!source) return createSubscription(cs, type, stats, decode, callbacks, env, [name]);
  if (!env.grpc) throw new Error(`${type.service}: no gRPC xDS client`);
  return env.grpc.subscription(
    env.grpc.authority(source),
    [name],
    type,
    stats,
    callbacks,
    initialFetchTimeoutMs(source),
    `over xdstp authority ${decodeXdstpName(name).authority || "(default)"}`,
  );
}

/**
 * The subscription to the glob collection `locator` of `type` from `cs` (validated with
 * {@linkcode collectionProblems}): over the bootstrap's ADS stream, or a DELTA_GRPC stream of
 * its own.
 */
export function createCollectionSubscription(
  locator: string,
  cs: ConfigSource,
  type: ResourceType,
  stats: SubscriptionStats,
  callbacks: SubscriptionCallbacks,
  env: SubscriptionEnv,
): Subscription {
  const problem = collectionProblems(locator, cs, type)[0];
  if (problem) throw new Error(problem.message);
  if (!env.grpc) throw new Error(`${type.service}: no gRPC xDS client`);
  const spec = cs.configSourceSpecifier;
  const ads = overAds(cs);
  const stream = ads || spec.case !== "apiConfigSource"
    ? env.grpc.ads()
    : env.grpc.perType(spec.value, type);
  return env.grpc.subscription(
    stream,
    [normalName(locator)],
    type,
    stats,
    callbacks,
    initialFetchTimeoutMs(cs),
    `collection ${locator} ${ads ? "over ADS" : "over gRPC"}`,
  );
}

/**
 * The subscription `cs` gives for `type` (`names`: the resources of interest, none for all);
 * throws an Error for a source that {@linkcode configSourceProblems} refuses (validation keeps
 * such configs out) or whose cluster cannot be used.
 */
export function createSubscription(
  cs: ConfigSource,
  type: ResourceType,
  stats: SubscriptionStats,
  decode: DecodeContext,
  callbacks: SubscriptionCallbacks,
  env: SubscriptionEnv,
  names: string[] = [],
): Subscription {
  const problem = configSourceProblems(cs, type)[0];
  if (problem) throw new Error(problem.message);
  const spec = cs.configSourceSpecifier;
  if (spec.case === "ads" || spec.case === "apiConfigSource" && spec.value.apiType !== 1) {
    if (!env.grpc) throw new Error(`${type.service}: no gRPC xDS client`);
    const stream = spec.case === "ads" ? env.grpc.ads() : env.grpc.perType(spec.value, type);
    return env.grpc.subscription(
      stream,
      names,
      type,
      stats,
      callbacks,
      initialFetchTimeoutMs(cs),
      spec.case === "ads" ? "over ADS" : "over gRPC",
    );
  }
  if (spec.case === "apiConfigSource") {
    const api = spec.value;
    const clusterName = api.clusterNames[0];
    return new RestSubscription(
      {
        clusterName,
        refreshDelayMs: durationMs(api.refreshDelay, 0),
        requestTimeoutMs: durationMs(api.requestTimeout, DEFAULT_REST_REQUEST_TIMEOUT_MS),
        node: env.node,
        resourceNames: names,
        chooseHost: env.hostOf(clusterName),
      },
      type,
      stats,
      decode,
      callbacks,
      initialFetchTimeoutMs(cs),
    );
  }
  const fs = filesystemSource(cs)!;
  return new FilesystemSubscription(
    fs,
    type,
    stats,
    decode,
    callbacks,
    initialFetchTimeoutMs(cs),
  );
}
