/**
 * Decoding an xDS update: a DiscoveryResponse's text (a `path_config_source` file, a REST
 * response body) becomes typed resources, each checked by the same config readers and field
 * support as static config, so what is accepted here is what serving builds (validate =
 * serve). Problems come back as config issues with file:line:col and the field path.
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import type { Secret } from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import { unpackAny } from "../config/any.ts";
import { loadResourceText } from "../config/bootstrap.ts";
import type { ConfigIssue } from "../config/errors.ts";
import type { ExtensionRegistry } from "../config/extensions.ts";
import { checkDiscoveryResources } from "../config/semantic.ts";
import { position } from "../config/source.ts";
import { RESOURCE_WRAPPER } from "./protocol_state.ts";
import type { ResourceType } from "./resource_types.ts";
import type { UpdateFailureState } from "./xds_manager.ts";

/** A decoded resource and the name it is known by (a load assignment's cluster_name). */
export interface DecodedResource<T extends Message = Message> {
  readonly name: string;
  readonly message: T;
}

/** An update that decoded: its version and resources. */
export interface DecodedUpdate {
  readonly versionInfo: string;
  /** The response's nonce (REST and gRPC acknowledge it). */
  readonly nonce?: string;
  readonly resources: readonly DecodedResource[];
  /**
   * The names of interest this update removed (a delta response's `removed_resources`, or
   * resources whose TTL passed): for the types that apply a removal otherwise than by
   * absence (RTDS clears its layer).
   */
  readonly removed?: readonly string[];
}

/** What `/config_dump` shows of a rejected update: its first resource, when, why, its version. */
export function updateFailureState(failed: DecodedUpdate, details: string): UpdateFailureState {
  return {
    failedConfiguration: failed.resources[0]?.message,
    lastUpdateAttempt: new Date(),
    details,
    versionInfo: failed.versionInfo,
  };
}

/**
 * The outcome of decoding: the update, or the issues and whether they make it a failure (it
 * could not be read or parsed: Envoy's `update_failure`) or a rejection (it was read and a
 * resource is invalid: `update_rejected`).
 */
export type DecodeResult =
  | { ok: true; update: DecodedUpdate }
  | { ok: false; rejected: boolean; issues: ConfigIssue[]; update?: DecodedUpdate };

/** What decoding checks resources against. */
export interface DecodeContext {
  extensions: ExtensionRegistry;
  /** Clusters that exist when the update applies (inline route tables name them). */
  clusters: () => Set<string>;
  /** The bootstrap's `static_resources.secrets` (TLS contexts may name them). */
  secrets?: readonly Secret[];
}

/** The name a resource is known by in its type's subscriptions. */
export function resourceName(m: Message): string {
  const o = m as { name?: unknown; clusterName?: unknown };
  return typeof o.clusterName === "string" && m.$typeName.endsWith("ClusterLoadAssignment")
    ? o.clusterName
    : typeof o.name === "string"
    ? o.name
    : "";
}

/** Decodes and checks the DiscoveryResponse in `text` (YAML or JSON) for resources of `type`. */
export function decodeResponseText(
  text: string,
  file: string,
  type: ResourceType,
  dc: DecodeContext,
): DecodeResult {
  const loaded = loadResourceText(text, file, dc.extensions, { checkFiles: false });
  const { response, ctx } = loaded;
  if (!response || !ctx) {
    // The walk's findings about the resources themselves are rejections, as Envoy's: the text
    // parsed; only a text that did not parse (or is not a DiscoveryResponse) is a failure.
    const rejected = ctx !== undefined &&
      loaded.issues.every((i) => i.path.startsWith("resources"));
    return { ok: false, rejected, issues: loaded.issues };
  }
  const issues: ConfigIssue[] = [];
  const at = (path: string, message: string): ConfigIssue => ({
    kind: "semantic",
    file,
    ...position(ctx.src, { path }),
    path,
    message,
  });
  if (response.typeUrl && response.typeUrl !== type.typeUrl) {
    issues.push(
      at("type_url", `a ${response.typeUrl} response for a ${type.service} subscription`),
    );
  }
  const messages: Message[] = [];
  response.resources.forEach((any, i) => {
    if (any.typeUrl === RESOURCE_WRAPPER) {
      issues.push(at(
        `resources[${i}]`,
        "a Resource with no body (a TTL heartbeat) means something only over gRPC",
      ));
      return;
    }
    if (any.typeUrl !== type.typeUrl) {
      issues.push(at(
        `resources[${i}]`,
        `type URL ${any.typeUrl} embedded in an individual Any does not match the ` +
          `message-wide type URL ${type.typeUrl} in DiscoveryResponse`,
      ));
      return;
    }
    const m = unpackAny(any);
    if (!m) issues.push(at(`resources[${i}]`, `cannot decode a ${type.typeName}`));
    else messages.push(m);
  });
  if (issues.length > 0) return { ok: false, rejected: true, issues };
  checkDiscoveryResources(messages, ctx, dc.extensions, dc.clusters(), issues, dc.secrets);
  const update = {
    versionInfo: response.versionInfo,
    nonce: response.nonce,
    resources: messages.map((message) => ({ name: resourceName(message), message })),
  };
  // A rejected update is kept for the config dump's error_state.
  if (issues.length > 0) return { ok: false, rejected: true, issues, update };
  return { ok: true, update };
}

/**
 * A response refused before its resources could be read (one of another type, one that does
 * not decode): every watch of the type counts it rejected, as Envoy's muxes report it to each
 * subscription (`update_rejected`).
 */
export function rejectedUpdate(type: ResourceType, message: string): DecodeResult {
  const file = `${type.service} response`;
  return {
    ok: false,
    rejected: true,
    issues: [{ kind: "semantic", file, line: 0, col: 0, path: "resources", message }],
  };
}
