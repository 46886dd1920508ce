/**
 * A `ConfigSource` (where a type's resources come from) checked and turned into a
 * {@linkcode Subscription}. Implemented: the filesystem (`path_config_source`, and the
 * deprecated `path`). Refused with a clear message until their transports land (issue 13):
 * gRPC (`api_config_source` GRPC, DELTA_GRPC, AGGREGATED_*), ADS (`ads`), REST, `self`.
 *
 * @module
 */
import type { ConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { durationMs } from "../common/duration.ts";
import type { DecodeContext } from "./decode.ts";
import { type FilesystemSource, FilesystemSubscription } from "./filesystem_subscription.ts";
import type { ResourceType } from "./resource_types.ts";
import type { Subscription, SubscriptionCallbacks } from "./subscription.ts";
import type { SubscriptionStats } from "./subscription_stats.ts";

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

const GRPC_WORK = "the gRPC xDS transports (GRPC, DELTA_GRPC, ADS) are issue 13's remaining " +
  "work; use path_config_source (filesystem xDS) meanwhile";

/** What is wrong with `cs` for fetching resources of `type`; empty when it can be used. */
export function configSourceProblems(
  cs: ConfigSource,
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
  // ApiVersion: AUTO (0) and V3 (2) are v3; V2 (1) was removed from Envoy.
  if (cs.resourceApiVersion === 1) {
    out.push({
      field: "resource_api_version",
      message: "the V2 xDS API is no longer supported: use V3",
      unsupported: false,
    });
  }
  const spec = cs.configSourceSpecifier;
  switch (spec.case) {
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
      out.push({
        field: "api_config_source.api_type",
        message: name === "REST"
          ? "api_config_source REST is not supported yet (issue 13); use path_config_source"
          : name === "DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE"
          ? "api_type must be set (REST, GRPC or DELTA_GRPC)"
          : `api_config_source ${name} is not supported yet: ${GRPC_WORK}`,
        unsupported: name !== "DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE",
      });
      break;
    }
    case "ads":
      out.push({
        field: "ads",
        message: `ads is not supported yet: ${GRPC_WORK}`,
        unsupported: true,
      });
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

/**
 * The subscription `cs` gives for `type`; throws an Error for a source that
 * {@linkcode configSourceProblems} refuses (validation keeps such configs out).
 */
export function createSubscription(
  cs: ConfigSource,
  type: ResourceType,
  stats: SubscriptionStats,
  decode: DecodeContext,
  callbacks: SubscriptionCallbacks,
): Subscription {
  const problem = configSourceProblems(cs, type)[0];
  if (problem) throw new Error(problem.message);
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
