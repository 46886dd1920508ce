/**
 * ECDS on the main thread (Envoy's `FilterConfigSubscription`): one subscription per (kind,
 * config source, filter config name) that a `config_discovery` names: an HTTP filter's, a
 * listener filter's or a network filter's. An update carries that one `TypedExtensionConfig`;
 * its config must be of a type every filter naming it takes (`type_urls`) and pass the
 * filter's own checks, else the update is NACKed and the previous config stays. Accepted
 * configs are posted to every isolate (xds/ecds_config.ts), where the next stream or
 * connection uses them. Listeners warm until their filter configs first answer (or the
 * initial fetch ends), unless `apply_default_config_without_warming`. A subscription goes
 * with the last listener naming it (`retain`). Stats: `extension_config_discovery.<kind>.
 * <name>.*` (`config_reload`, `config_fail` and the subscription's), as Envoy's.
 *
 * @module
 */
import { equals } from "@bufbuild/protobuf";
import { messageSchema } from "../config/api.ts";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { ExtensionConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import type { TypedExtensionConfig } from "../../proto/gen/envoy/config/core/v3/extension_pb.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import type { HttpConnectionManager } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import { getLogger } from "../common/logger.ts";
import { unpackAny } from "../config/any.ts";
import type { Counter } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import {
  type EcdsConfigUpdate,
  ecdsKey,
  type EcdsKind,
  sameType,
  typeUrlMismatch,
} from "./ecds_config.ts";
import { createSubscription, type SubscriptionEnv } from "./config_source.ts";
import { type DecodeContext, updateFailureState } from "./decode.ts";
import { ECDS } from "./resource_types.ts";
import type { Subscription } from "./subscription.ts";
import { SubscriptionStats } from "./subscription_stats.ts";
import type { UpdateFailureState, Versioned } from "./xds_manager.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const typedExtensionConfigSchema = () =>
  messageSchema<TypedExtensionConfig>("envoy.config.core.v3.TypedExtensionConfig");

const log = getLogger("config");
const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** A filter that takes its config from ECDS. */
export interface EcdsRef {
  kind: EcdsKind;
  name: string;
  source: ExtensionConfigSource;
}

/** One filter config's subscription and what it brought. */
export interface EcdsState {
  /** `ecdsKey`: the warming target is `ecds:<key>`. */
  readonly key: string;
  readonly name: string;
  /** The type URLs of every filter naming it (a config must suit each). */
  readonly typeUrls: Set<string>[];
  subscription?: Subscription;
  current?: Versioned<TypedExtensionConfig>;
  ready: boolean;
  error?: UpdateFailureState;
}

/**
 * The ECDS filters of a listener: its listener filters, its chains' network filters and the
 * HTTP filters of its connection managers.
 */
export function ecdsRefs(l: Listener): EcdsRef[] {
  const out: EcdsRef[] = [];
  for (const f of l.listenerFilters) {
    if (f.configType.case === "configDiscovery") {
      out.push({ kind: "tcp_listener_filter", name: f.name, source: f.configType.value });
    }
  }
  const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  for (const chain of chains) {
    for (const f of chain.filters) {
      if (f.configType.case === "configDiscovery") {
        out.push({ kind: "network_filter", name: f.name, source: f.configType.value });
      }
      if (f.configType.case !== "typedConfig" || !f.configType.value.typeUrl.endsWith(HCM)) {
        continue;
      }
      for (const hf of unpackAny<HttpConnectionManager>(f.configType.value)?.httpFilters ?? []) {
        if (hf.configType.case === "configDiscovery") {
          out.push({ kind: "http_filter", name: hf.name, source: hf.configType.value });
        }
      }
    }
  }
  return out;
}

/** The keys of the filter configs `refs` name. */
export function ecdsKeys(refs: readonly EcdsRef[]): string[] {
  return refs.map((r) => ecdsKey(r.kind, r.name, r.source));
}

/**
 * Why a connection manager configured by ECDS (network filter `name`: its delivered or
 * default config `any`) cannot serve: what it would fetch itself (RDS, SRDS, ECDS HTTP
 * filters) needs the listener's warming, which a filter config update does not go through.
 */
export function dynamicHcmProblem(name: string, any: Any | undefined): string | undefined {
  if (!any?.typeUrl.endsWith(HCM)) return undefined;
  const hcm = unpackAny<HttpConnectionManager>(any);
  if (!hcm) return undefined;
  if (hcm.routeSpecifier.case === "rds" || hcm.routeSpecifier.case === "scopedRoutes") {
    return `network filter '${name}': an HttpConnectionManager from ECDS needs an ` +
      "inline route_config (rds and scoped_routes are not supported there)";
  }
  if (hcm.httpFilters.some((f) => f.configType.case === "configDiscovery")) {
    return `network filter '${name}': an HttpConnectionManager from ECDS cannot have ` +
      "config_discovery HTTP filters";
  }
  return undefined;
}

/** Whether a listener must wait for `ref` before it serves. */
export function warmsFor(ref: EcdsRef): boolean {
  return !(ref.source.applyDefaultConfigWithoutWarming && ref.source.defaultConfig);
}

/** What the provider needs of the server. */
export interface EcdsDeps {
  store: Scope;
  decode: DecodeContext;
  env: SubscriptionEnv;
  /** Posts accepted configs to every worker (and applies them here). */
  post(configs: EcdsConfigUpdate[]): void;
  /** Config `key` answered or its initial fetch ended (`ecds:<key>`). */
  onReady(key: string): void;
}

/** The server's ECDS filter configs. */
export class EcdsProvider {
  readonly #configs = new Map<string, EcdsState>();

  constructor(readonly deps: EcdsDeps) {}

  /** The state of `ref`, subscribing on first use. */
  config(ref: EcdsRef): EcdsState {
    const key = ecdsKey(ref.kind, ref.name, ref.source);
    const types = new Set(ref.source.typeUrls);
    const existing = this.#configs.get(key);
    if (existing) {
      // Each listener update asks again: keep one of each constraint.
      const same = (a: Set<string>) => a.size === types.size && [...a].every((t) => types.has(t));
      if (!existing.typeUrls.some(same)) existing.typeUrls.push(types);
      return existing;
    }
    const state: EcdsState = { key, name: ref.name, typeUrls: [types], ready: false };
    this.#configs.set(key, state);
    const prefix = `extension_config_discovery.${ref.kind}.${ref.name}`;
    const scope = this.deps.store.scope(prefix);
    const configReload: Counter = scope.counter("config_reload");
    const configFail: Counter = scope.counter("config_fail");
    scope.counter("config_conflict");
    const cs = ref.source.configSource;
    try {
      if (!cs) throw new Error("config_source is required");
      state.subscription = createSubscription(
        cs,
        ECDS,
        new SubscriptionStats(this.deps.store, prefix),
        this.deps.decode,
        {
          onConfigUpdate: (u) => {
            // Removed (delta) or its TTL passed: the default config applies, else none, as
            // Envoy's DynamicFilterConfigProviderImpl::onConfigRemoved.
            if (u.resources.length === 0 && u.removed?.includes(ref.name) && state.current) {
              state.current = undefined;
              this.deps.post([{ key }]);
              log.info(`ECDS: ${ref.kind} config '${ref.name}' removed`);
              return;
            }
            if (u.resources.length === 0) return;
            if (u.resources.length !== 1) {
              throw new Error(
                `Unexpected number of resources in ExtensionConfigDS response: ${u.resources.length}`,
              );
            }
            const tec = u.resources[0].message as TypedExtensionConfig;
            if (tec.name !== ref.name) {
              throw new Error(
                `Unexpected resource name in ExtensionConfigDS response: ${tec.name}`,
              );
            }
            const typeUrl = tec.typedConfig?.typeUrl ?? "";
            for (const allowed of state.typeUrls) {
              if (![...allowed].some((t) => sameType(t, typeUrl))) {
                throw new Error(typeUrlMismatch(typeUrl, [...allowed]));
              }
            }
            if (ref.kind === "network_filter") {
              const problem = dynamicHcmProblem(tec.name, tec.typedConfig);
              if (problem) throw new Error(problem);
            }
            const same = state.current &&
              equals(typedExtensionConfigSchema(), state.current.config, tec);
            state.current = { config: tec, versionInfo: u.versionInfo, lastUpdated: new Date() };
            state.error = undefined;
            if (!same) {
              this.deps.post([{ key, config: tec.typedConfig! }]);
              configReload.inc();
              log.info(
                `ECDS: ${ref.kind} config '${ref.name}' updated (version '${u.versionInfo}')`,
              );
            }
            this.#ready(state);
          },
          onConfigUpdateFailed: (_reason, details, failed) => {
            configFail.inc();
            if (failed) state.error = updateFailureState(failed, details);
            this.#ready(state);
          },
        },
        this.deps.env,
        [ref.name],
      );
    } catch (e) {
      log.error(`ECDS ${ref.kind} config '${ref.name}': ${(e as Error).message}`);
      queueMicrotask(() => this.#ready(state));
      return state;
    }
    state.subscription.start();
    return state;
  }

  #ready(st: EcdsState): void {
    if (st.ready) return;
    st.ready = true;
    this.deps.onReady(st.key);
  }

  /** The configs supplied so far (what a worker starting now applies first). */
  snapshot(): EcdsConfigUpdate[] {
    const out: EcdsConfigUpdate[] = [];
    for (const st of this.#configs.values()) {
      if (st.current?.config.typedConfig) {
        out.push({ key: st.key, config: st.current.config.typedConfig });
      }
    }
    return out;
  }

  /** Every filter config subscribed to (the config dump's `EcdsConfigDump`). */
  states(): IterableIterator<EcdsState> {
    return this.#configs.values();
  }

  /**
   * Drops the subscriptions of filter configs no listener names any more (`inUse`: the keys
   * still named), as Envoy's providers go with their last filter: the stream unsubscribes, and
   * a later user subscribes (and warms) afresh. Returns the keys dropped.
   */
  retain(inUse: ReadonlySet<string>): string[] {
    const dropped: string[] = [];
    for (const [key, st] of this.#configs) {
      if (inUse.has(key)) continue;
      st.subscription?.stop();
      this.#configs.delete(key);
      dropped.push(key);
      log.info(`ECDS: filter config '${st.name}' no longer used: unsubscribed`);
    }
    return dropped;
  }

  /** Whether any filter config is subscribed to. */
  get size(): number {
    return this.#configs.size;
  }

  /** Stops every subscription. */
  stop(): void {
    for (const st of this.#configs.values()) st.subscription?.stop();
  }
}
