/**
 * Envoy's `Runtime::FractionalPercent` (runtime_protos.h): a `RuntimeFractionalPercent` from
 * config, asked per request whether it is on. The percentage is read from the live snapshot at
 * each ask, so `/runtime_modify` and disk layer swaps apply to the next request.
 *
 * @module
 */
import type { RuntimeFractionalPercent as RuntimeFractionalPercentProto } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import { DENOMINATORS, type FractionalPercent } from "./snapshot.ts";
import { runtimeSnapshot } from "./runtime.ts";

/** A compiled `envoy.config.core.v3.RuntimeFractionalPercent`. */
export class RuntimeFractionalPercent {
  readonly runtimeKey: string;
  readonly defaultValue: FractionalPercent;

  constructor(proto: RuntimeFractionalPercentProto) {
    this.runtimeKey = proto.runtimeKey;
    const d = proto.defaultValue;
    this.defaultValue = {
      numerator: d?.numerator ?? 0,
      denominator: DENOMINATORS[d?.denominator ?? 0] ?? 100,
    };
  }

  /** Whether the feature is on for this request (a fresh random draw, as Envoy's). */
  enabled(random: number = (Math.random() * 0x100000000) >>> 0): boolean {
    return runtimeSnapshot().featureEnabled(this.runtimeKey, this.defaultValue, random);
  }
}
