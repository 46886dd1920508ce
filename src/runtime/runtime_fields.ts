/** Fields of `layered_runtime` that the runtime loader implements (see config/field_support.ts). */
import type { FieldTable } from "../config/field_support.ts";

/** Layered runtime fields read by runtime/loader.ts. */
export const RUNTIME_FIELDS: FieldTable = {
  implemented: {
    "envoy.config.bootstrap.v3.LayeredRuntime": ["layers"],
    "envoy.config.bootstrap.v3.RuntimeLayer": [
      "name",
      "static_layer",
      "disk_layer",
      "admin_layer",
      "rtds_layer",
    ],
    // RTDS (xds/rtds.ts): the layer names a `Runtime` resource from its config source.
    "envoy.config.bootstrap.v3.RuntimeLayer.RtdsLayer": ["name", "rtds_config"],
    "envoy.service.runtime.v3.Runtime": ["name", "layer"],
    "envoy.config.bootstrap.v3.RuntimeLayer.DiskLayer": [
      "symlink_root",
      "subdirectory",
      "append_service_cluster",
    ],
    "envoy.config.bootstrap.v3.RuntimeLayer.AdminLayer": [],
  },
};
