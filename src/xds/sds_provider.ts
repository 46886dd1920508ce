/**
 * SDS over xDS on the main thread (Envoy's `SdsApi` behind the secret manager's dynamic
 * providers): one subscription per (config source, secret name) that a TLS context of a
 * listener or cluster names with `sds_config: { ads: {} }` or a gRPC `api_config_source`.
 * An update carries that one secret; it is checked as a static secret is (a certificate that
 * does not load, a name that is not the one asked for: the update is NACKed and the previous
 * secret stays), applied in this isolate and posted to the workers, whose contexts rebuild
 * for new handshakes. A secret's first answer (or the initial fetch ending) readies it: the
 * listeners and clusters naming it warm until then. Stats: `sds.<name>.*` (the subscription's).
 *
 * @module
 */
import { equals } from "@bufbuild/protobuf";
import { messageSchema } from "../config/api.ts";
import type { Cluster } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import type { TransportSocket } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { ConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import type { Listener } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import type { Secret } from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import type {
  CommonTlsContext,
  DownstreamTlsContext,
  UpstreamTlsContext,
} from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.ts";
import { getLogger } from "../common/logger.ts";
import { unpackAny } from "../config/any.ts";
import type { Scope } from "../stats/store.ts";
import { secretProblems } from "../extensions/transport_sockets/tls/context_config.ts";
import {
  applySdsSecrets,
  isXdsSecretSource,
  type SdsSecretUpdate,
  sdsSourceKey,
} from "../extensions/transport_sockets/tls/sds_registry.ts";
import { createSubscription, type SubscriptionEnv } from "./config_source.ts";
import { type DecodeContext, updateFailureState } from "./decode.ts";
import { SDS } from "./resource_types.ts";
import type { Subscription } from "./subscription.ts";
import { SubscriptionStats } from "./subscription_stats.ts";
import type { UpdateFailureState, Versioned } from "./xds_manager.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const secretSchema = () =>
  messageSchema<Secret>("envoy.extensions.transport_sockets.tls.v3.Secret");

const log = getLogger("config");
const TLS = "envoy.extensions.transport_sockets.tls.v3.";

/** A secret a TLS context takes from SDS over xDS. */
export interface SdsRef {
  name: string;
  configSource: ConfigSource;
}

/** One secret's subscription and what it brought. */
export interface SecretState {
  /** `<name> <config source>`: the init and warming target is `secret:<key>`. */
  readonly key: string;
  readonly name: string;
  /** The config source key (sds_registry.ts). */
  readonly source: string;
  subscription?: Subscription;
  current?: Versioned<Secret>;
  /** Supplied, or the initial fetch ended without it. */
  ready: boolean;
  error?: UpdateFailureState;
  readonly waiters: (() => void)[];
}

/** The SDS-over-xDS secrets the TLS contexts of `sockets` name. */
export function sdsRefs(sockets: readonly (TransportSocket | undefined)[]): SdsRef[] {
  const out: SdsRef[] = [];
  for (const ts of sockets) {
    if (ts?.configType.case !== "typedConfig") continue;
    const m = unpackAny(ts.configType.value);
    let common: CommonTlsContext | undefined;
    if (m?.$typeName === `${TLS}DownstreamTlsContext`) {
      common = (m as DownstreamTlsContext).commonTlsContext;
    } else if (m?.$typeName === `${TLS}UpstreamTlsContext`) {
      common = (m as UpstreamTlsContext).commonTlsContext;
    }
    if (!common) continue;
    const configs = [...common.tlsCertificateSdsSecretConfigs];
    const vc = common.validationContextType;
    if (vc.case === "validationContextSdsSecretConfig") configs.push(vc.value);
    else if (vc.case === "combinedValidationContext" && vc.value.validationContextSdsSecretConfig) {
      configs.push(vc.value.validationContextSdsSecretConfig);
    }
    for (const c of configs) {
      if (isXdsSecretSource(c.sdsConfig)) out.push({ name: c.name, configSource: c.sdsConfig! });
    }
  }
  return out;
}

/** The key of `ref`'s secret: `<name> <config source>`. */
export function sdsKey(ref: SdsRef): string {
  return `${ref.name} ${sdsSourceKey(ref.configSource)}`;
}

/** The transport sockets of a listener's filter chains. */
export function listenerSockets(l: Listener): (TransportSocket | undefined)[] {
  const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  return chains.map((c) => c.transportSocket);
}

/** The transport sockets of a cluster (its own and its matches'). */
export function clusterSockets(c: Cluster): (TransportSocket | undefined)[] {
  return [c.transportSocket, ...c.transportSocketMatches.map((m) => m.transportSocket)];
}

/** What the provider needs of the server. */
export interface SdsDeps {
  store: Scope;
  decode: DecodeContext;
  env: SubscriptionEnv;
  /** Posts accepted secrets to every worker. */
  post(secrets: SdsSecretUpdate[]): void;
  /** Secret `key` is ready (warming listeners and init wait on `secret:<key>`). */
  onReady(key: string): void;
}

/** The server's SDS-over-xDS secrets. */
export class SdsProvider {
  readonly #secrets = new Map<string, SecretState>();

  constructor(readonly deps: SdsDeps) {}

  /** The state of `ref`, subscribing on first use. */
  secret(ref: SdsRef): SecretState {
    const source = sdsSourceKey(ref.configSource);
    const key = sdsKey(ref);
    let st = this.#secrets.get(key);
    if (st) return st;
    const state: SecretState = { key, name: ref.name, source, ready: false, waiters: [] };
    st = state;
    this.#secrets.set(key, state);
    try {
      state.subscription = createSubscription(
        ref.configSource,
        SDS,
        new SubscriptionStats(this.deps.store, `sds.${ref.name}`),
        this.deps.decode,
        {
          onConfigUpdate: (u) => {
            // Another secret of a shared stream (SotW sends what was asked of the type).
            if (u.resources.length === 0) return;
            if (u.resources.length !== 1) {
              throw new Error(`Unexpected SDS secrets length: ${u.resources.length}`);
            }
            const secret = u.resources[0].message as Secret;
            if (secret.name !== ref.name) {
              throw new Error(`Unexpected SDS secret (expecting ${ref.name}): ${secret.name}`);
            }
            const problems = secretProblems(secret);
            if (problems.length > 0) throw new Error(problems.join("; "));
            const same = state.current && equals(secretSchema(), state.current.config, secret);
            state.current = { config: secret, versionInfo: u.versionInfo, lastUpdated: new Date() };
            state.error = undefined;
            if (!same) {
              const update = [{ source, name: ref.name, secret }];
              applySdsSecrets(update);
              this.deps.post(update);
              log.info(`SDS: secret '${ref.name}' updated (version '${u.versionInfo}')`);
            }
            this.#ready(state);
          },
          onConfigUpdateFailed: (_reason, details, failed) => {
            if (failed) state.error = updateFailureState(failed, details);
            this.#ready(state);
          },
        },
        this.deps.env,
        [ref.name],
      );
    } catch (e) {
      log.error(`SDS secret '${ref.name}': ${(e as Error).message}`);
      this.#ready(state);
      return state;
    }
    state.subscription.start();
    return state;
  }

  /** Resolves once `st` is ready. */
  whenReady(st: SecretState): Promise<void> {
    if (st.ready) return Promise.resolve();
    return new Promise((resolve) => st.waiters.push(resolve));
  }

  #ready(st: SecretState): void {
    if (st.ready) return;
    st.ready = true;
    for (const w of st.waiters.splice(0)) w();
    this.deps.onReady(st.key);
  }

  /** The secrets supplied so far (what a worker starting now applies first). */
  snapshot(): SdsSecretUpdate[] {
    const out: SdsSecretUpdate[] = [];
    for (const st of this.#secrets.values()) {
      if (st.current) out.push({ source: st.source, name: st.name, secret: st.current.config });
    }
    return out;
  }

  /** Every secret subscribed to (the config dump's dynamic secrets). */
  states(): IterableIterator<SecretState> {
    return this.#secrets.values();
  }

  /**
   * Drops the subscriptions of secrets no listener or cluster names any more (`inUse`: the
   * keys still named), as Envoy's secret providers go with their last user: the stream
   * unsubscribes (delta `resource_names_unsubscribe`, a shorter SotW `resource_names`), and a
   * later user subscribes (and warms) afresh. Returns the keys dropped.
   */
  retain(inUse: ReadonlySet<string>): string[] {
    const dropped: string[] = [];
    for (const [key, st] of this.#secrets) {
      if (inUse.has(key)) continue;
      st.subscription?.stop();
      this.#secrets.delete(key);
      // Nothing waits on it any more; release what might.
      for (const w of st.waiters.splice(0)) w();
      dropped.push(key);
      log.info(`SDS: secret '${st.name}' no longer used: unsubscribed`);
    }
    return dropped;
  }

  /** Whether any secret is subscribed to. */
  get size(): number {
    return this.#secrets.size;
  }

  /** Stops every subscription. */
  stop(): void {
    for (const st of this.#secrets.values()) st.subscription?.stop();
  }
}
