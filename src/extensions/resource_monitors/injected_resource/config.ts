/**
 * `envoy.resource_monitors.injected_resource`: the pressure is whatever number the file
 * `filename` holds (for tests, and for operators who compute pressure elsewhere). The file is
 * read on every refresh; a missing file, or text that is not a number from 0 to 1, is a failed
 * update and leaves the last pressure in force, as in Envoy.
 */
import type { Message } from "@bufbuild/protobuf";
import type { InjectedResourceConfig } from "../../../../proto/gen/envoy/extensions/resource_monitors/injected_resource/v3/injected_resource_pb.ts";
import type { ExtensionFactory } from "../../../config/extensions.ts";
import type { ResourceMonitor } from "../resource_monitor.ts";

/** Parses an injected pressure; throws Envoy's error for text it cannot use. */
export function parsePressure(text: string): number {
  const t = text.trim();
  const value = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) ? Number(t) : NaN;
  if (Number.isNaN(value)) throw new Error("failed to parse injected resource pressure");
  if (value < 0 || value > 1) throw new Error("pressure out of valid range");
  return value;
}

/** A monitor reading its pressure from `filename`. */
export function injectedResourceMonitor(filename: string): ResourceMonitor {
  return { pressure: () => parsePressure(Deno.readTextFileSync(filename)) };
}

/** Factory for injected_resource. */
export const injectedResourceFactory: ExtensionFactory = {
  name: "envoy.resource_monitors.injected_resource",
  category: "envoy.resource_monitors",
  configTypes: ["envoy.extensions.resource_monitors.injected_resource.v3.InjectedResourceConfig"],
  fields: {
    implemented: {
      "envoy.extensions.resource_monitors.injected_resource.v3.InjectedResourceConfig": [
        "filename",
      ],
    },
  },
  createResourceMonitor(config: Message): ResourceMonitor {
    return injectedResourceMonitor((config as InjectedResourceConfig).filename);
  },
};
