/**
 * `envoy.resource_monitors.fixed_heap`: memory pressure as the process's resident set size
 * (RSS) over `max_heap_size_bytes`. Envoy divides the heap tcmalloc holds (less the free and
 * unmapped pages); a Deno process's memory is the V8 heaps of the main and worker isolates plus
 * the buffers outside them, which only the RSS covers as a whole (a V8 heap figure would miss
 * the workers' isolates and every socket buffer).
 */
import type { Message } from "@bufbuild/protobuf";
import type { FixedHeapConfig } from "../../../../proto/gen/envoy/extensions/resource_monitors/fixed_heap/v3/fixed_heap_pb.ts";
import type { ExtensionFactory } from "../../../config/extensions.ts";
import type { ResourceMonitor } from "../resource_monitor.ts";

/** A fixed heap monitor over `rss` (bytes now) and a maximum. */
export function fixedHeapMonitor(
  maxBytes: number,
  rss: () => number = () => Deno.memoryUsage().rss,
): ResourceMonitor {
  return { pressure: () => rss() / maxBytes };
}

/** Factory for fixed_heap. */
export const fixedHeapFactory: ExtensionFactory = {
  name: "envoy.resource_monitors.fixed_heap",
  category: "envoy.resource_monitors",
  configTypes: ["envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig"],
  fields: {
    implemented: {
      "envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig": ["max_heap_size_bytes"],
    },
  },
  createResourceMonitor(config: Message): ResourceMonitor {
    return fixedHeapMonitor(Number((config as FixedHeapConfig).maxHeapSizeBytes));
  },
};
