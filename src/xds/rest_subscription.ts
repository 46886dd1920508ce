/**
 * REST xDS (`api_config_source: { api_type: REST }`), as Envoy's HttpSubscriptionImpl: every
 * `refresh_delay` a JSON DiscoveryRequest (version_info, node, resource_names, type_url,
 * response_nonce, and after a rejection error_detail) is POSTed to
 * `/v3/discovery:<type>` of a host the cluster's load balancer picks; a 200 answer is a
 * DiscoveryResponse in JSON, decoded and applied like any other update. The next request
 * acknowledges it (its version and nonce) or carries the NACK.
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { getLogger } from "../common/logger.ts";
import { reportBug } from "../common/error_boundary.ts";
import { type DecodeContext, decodeResponseText } from "./decode.ts";
import { NACK_CODE } from "./protocol_state.ts";
import type { ResourceType } from "./resource_types.ts";
import { postJson } from "./rest_client.ts";
import { SubscriptionBase, type SubscriptionCallbacks } from "./subscription.ts";
import type { SubscriptionStats } from "./subscription_stats.ts";

const log = getLogger("config");

/** The REST path of each discovery service (Envoy's v3 REST endpoints). */
const PATHS: Readonly<Record<string, string>> = {
  LDS: "/v3/discovery:listeners",
  CDS: "/v3/discovery:clusters",
  RDS: "/v3/discovery:routes",
  EDS: "/v3/discovery:endpoints",
  SDS: "/v3/discovery:secrets",
  RTDS: "/v3/discovery:runtime",
  ECDS: "/v3/discovery:extension_configs",
};

/** Where and how often to poll. */
export interface RestSource {
  clusterName: string;
  refreshDelayMs: number;
  requestTimeoutMs: number;
  /** The node (proto JSON) every request carries. */
  node: JsonObject;
  /** Names of interest (none: every resource of the type). */
  resourceNames: string[];
  /** A host of the cluster (its load balancer's pick), or undefined when it has none. */
  chooseHost(): { address: string; port: number } | undefined;
}

/** A subscription polled over REST. */
export class RestSubscription extends SubscriptionBase {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #version = "";
  #nonce = "";
  #error: string | undefined;

  constructor(
    readonly source: RestSource,
    type: ResourceType,
    stats: SubscriptionStats,
    readonly decode: DecodeContext,
    callbacks: SubscriptionCallbacks,
    initialFetchTimeoutMs: number,
  ) {
    super(type, stats, callbacks, initialFetchTimeoutMs, `cluster '${source.clusterName}'`);
  }

  protected begin(): void {
    this.#stopped = false;
    this.#poll();
  }

  protected end(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** The DiscoveryRequest the next poll sends (proto JSON). */
  request(): JsonObject {
    return {
      version_info: this.#version,
      node: this.source.node,
      resource_names: this.source.resourceNames,
      type_url: this.type.typeUrl,
      response_nonce: this.#nonce,
      ...(this.#error ? { error_detail: { code: NACK_CODE, message: this.#error } } : {}),
    };
  }

  #poll(): void {
    this.#fetch().catch((e) => reportBug(`${this.type.service} REST poll`, e)).finally(() => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => this.#poll(), this.source.refreshDelayMs);
    });
  }

  async #fetch(): Promise<void> {
    const host = this.source.chooseHost();
    if (!host) {
      this.fetchFailed(`cluster '${this.source.clusterName}' has no healthy host`);
      return;
    }
    let status: number;
    let body: string;
    try {
      ({ status, body } = await postJson(
        host.address,
        host.port,
        this.source.clusterName,
        PATHS[this.type.service],
        JSON.stringify(this.request()),
        this.source.requestTimeoutMs,
      ));
    } catch (e) {
      if (!this.#stopped) this.fetchFailed((e as Error).message);
      return;
    }
    if (this.#stopped) return;
    if (status !== 200) {
      this.fetchFailed(`${host.address}:${host.port} answered ${status}`);
      return;
    }
    const where = `${this.source.clusterName}${PATHS[this.type.service]}`;
    const decoded = decodeResponseText(body, where, this.type, this.decode);
    // Envoy's REST subscription counts a body it cannot parse as a rejection too.
    const result = decoded.ok ? decoded : { ...decoded, rejected: true };
    const error = this.deliver(result);
    if (result.update?.nonce !== undefined) this.#nonce = result.update.nonce;
    if (error === undefined && result.ok) {
      this.#version = result.update.versionInfo;
      this.#error = undefined;
    } else {
      // A NACK: the next request keeps the accepted version and says why.
      this.#error = error;
      log.debug(`${this.type.service} REST: NACK of version '${result.update?.versionInfo}'`);
    }
  }
}
