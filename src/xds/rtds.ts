/**
 * RTDS (Envoy's `RtdsSubscription`): each `rtds_layer` of `layered_runtime` subscribes to one
 * `Runtime` resource; an update replaces the layer's values and the runtime takes a new
 * snapshot, which reaches the workers as every runtime change does (the next request reads
 * it). An update that is not exactly that one resource, or whose values are not a valid layer,
 * is NACKed and the layer keeps its values; the resource removed (delta `removed_resources`, or
 * its TTL passing: the use TTLs were made for) clears the layer. The first answer (or the initial fetch timing out)
 * ends the layer's init. Stats: the subscriptions' under `runtime.`, as Envoy's.
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { ConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import type { Runtime } from "../../proto/gen/envoy/service/runtime/v3/rtds_pb.ts";
import { getLogger } from "../common/logger.ts";
import type { Scope } from "../stats/store.ts";
import { createSubscription, type SubscriptionEnv } from "./config_source.ts";
import type { DecodeContext } from "./decode.ts";
import { RTDS } from "./resource_types.ts";
import type { Subscription } from "./subscription.ts";
import { SubscriptionStats } from "./subscription_stats.ts";

const log = getLogger("runtime");

/** The runtime's RTDS layers (runtime/loader.ts). */
export interface RtdsTarget {
  rtdsLayers(): { layer: string; resource: string; configSource: ConfigSource }[];
  /** Throws when `values` are not a valid layer. */
  setRtdsLayer(layer: string, values: JsonObject | undefined): void;
}

/**
 * Subscribes every RTDS layer of `target`; `onReady(layer)` once each first answers (or its
 * initial fetch ends). Returns the subscriptions.
 */
export function startRtds(
  target: RtdsTarget,
  store: Scope,
  decode: DecodeContext,
  env: SubscriptionEnv,
  onReady: (layer: string) => void,
): Subscription[] {
  const out: Subscription[] = [];
  for (const { layer, resource, configSource } of target.rtdsLayers()) {
    let ready = false;
    const done = () => {
      if (ready) return;
      ready = true;
      onReady(layer);
    };
    let sub: Subscription;
    try {
      sub = createSubscription(
        configSource,
        RTDS,
        new SubscriptionStats(store, "runtime"),
        decode,
        {
          onConfigUpdate: (u) => {
            // Removed by the control plane (delta) or its TTL passed: the layer is cleared
            // and the layers below show through again, as Envoy's RtdsSubscription.
            if (u.resources.length === 0 && u.removed?.includes(resource)) {
              target.setRtdsLayer(layer, undefined);
              log.info(`RTDS: layer '${layer}' cleared (resource '${resource}' removed)`);
              done();
              return;
            }
            if (u.resources.length !== 1) {
              done();
              throw new Error(
                `Unexpected RTDS resource length, number of added resources ` +
                  `${u.resources.length}, number of removed resources 0`,
              );
            }
            const rt = u.resources[0].message as Runtime;
            if (rt.name !== resource) {
              throw new Error(`Unexpected RTDS runtime (expecting ${resource}): ${rt.name}`);
            }
            target.setRtdsLayer(layer, rt.layer);
            log.info(`RTDS: layer '${layer}' updated (version '${u.versionInfo}')`);
            done();
          },
          // Start-up goes on even with a bad config, as in Envoy.
          onConfigUpdateFailed: done,
        },
        env,
        [resource],
      );
    } catch (e) {
      log.error(`RTDS layer '${layer}': ${(e as Error).message}`);
      // Once the caller has registered every init target.
      queueMicrotask(done);
      continue;
    }
    sub.start();
    out.push(sub);
  }
  return out;
}
