import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { throws } from "node:assert/strict";
import type { LayeredRuntime } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { assert, assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { checkLayeredRuntime, NoAdminLayerError, RuntimeLoader } from "./loader.ts";
import type { Snapshot } from "./snapshot.ts";

function layered(json: JsonValue): LayeredRuntime {
  return fromJson(messageSchema<LayeredRuntime>("envoy.config.bootstrap.v3.LayeredRuntime"), json, {
    registry: apiRegistry(),
  });
}

function stat(store: Store, name: string): number | undefined {
  const s = store.snapshot();
  return [...s.counters, ...s.gauges].find((x) => x.name === name)?.value;
}

Deno.test("static, disk and admin layers merge in order", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/current/envoy/svc`, { recursive: true });
    Deno.writeTextFileSync(`${root}/current/envoy/a`, "2");
    Deno.writeTextFileSync(`${root}/current/envoy/svc/b`, "from-cluster");
    const store = new Store();
    const seen: Snapshot[] = [];
    const loader = new RuntimeLoader(
      layered({
        layers: [
          { name: "static", static_layer: { a: 1, b: "static", c: { d: true } } },
          { name: "disk", disk_layer: { symlink_root: `${root}/current`, subdirectory: "envoy" } },
          {
            name: "override",
            disk_layer: {
              symlink_root: `${root}/current`,
              subdirectory: "envoy",
              append_service_cluster: true,
            },
          },
          { name: "missing", disk_layer: { symlink_root: `${root}/nope`, subdirectory: "x" } },
          { name: "admin", admin_layer: {} },
        ],
      }),
      store,
      "svc",
      (s) => seen.push(s),
    );
    const s = loader.snapshot();
    assertEquals(s.layers.map((l) => l.name), ["static", "disk", "override", "admin"]);
    assertEquals(s.getInteger("a", 0), 2);
    assertEquals(s.get("b"), "from-cluster");
    assertEquals(s.getBoolean("c.d", false), true);
    assertEquals(stat(store, "runtime.num_layers"), 4);
    assertEquals(stat(store, "runtime.num_keys"), 4);
    assertEquals(stat(store, "runtime.load_success"), 1);
    assertEquals(stat(store, "runtime.override_dir_exists"), 1);
    assertEquals(stat(store, "runtime.admin_overrides_active"), 0);

    loader.mergeValues([["a", "9"], ["new", "x"]]);
    assertEquals(loader.snapshot().getInteger("a", 0), 9);
    assertEquals(stat(store, "runtime.admin_overrides_active"), 1);
    assertEquals(stat(store, "runtime.num_keys"), 5);
    // An empty value removes the override; the disk value shows again.
    loader.mergeValues([["a", ""], ["new", ""]]);
    assertEquals(loader.snapshot().getInteger("a", 0), 2);
    assertEquals(loader.snapshot().get("new"), undefined);
    assertEquals(stat(store, "runtime.admin_overrides_active"), 0);
    assertEquals(seen.length, 3);
    assertEquals(seen[2], loader.snapshot());
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("runtime without layered_runtime has no layers and no admin layer", () => {
  const store = new Store();
  const loader = new RuntimeLoader(undefined, store, "");
  assertEquals(loader.snapshot().layers.length, 0);
  throws(() => loader.mergeValues([["a", "1"]]), NoAdminLayerError);
  assertEquals(stat(store, "runtime.override_dir_not_exists"), 1);
});

Deno.test("layered_runtime with no layers gets one admin layer, as in Envoy", () => {
  const loader = new RuntimeLoader(layered({}), new Store(), "");
  assertEquals(loader.snapshot().layers.map((l) => l.name), [""]);
  loader.mergeValues([["k", "v"]]);
  assertEquals(loader.snapshot().get("k"), "v");
});

Deno.test("a disk tree that cannot be loaded is left out and counted", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/rt/${Array.from({ length: 17 }, (_, i) => `d${i}`).join("/")}`, {
      recursive: true,
    });
    const store = new Store();
    const loader = new RuntimeLoader(
      layered({ layers: [{ name: "d", disk_layer: { symlink_root: root, subdirectory: "rt" } }] }),
      store,
      "",
    );
    assertEquals(loader.snapshot().layers.length, 0);
    assertEquals(stat(store, "runtime.load_error"), 1);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("disk layers reload when the symlink root is swapped", async () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/v1/envoy`, { recursive: true });
    Deno.mkdirSync(`${root}/v2/envoy`, { recursive: true });
    Deno.writeTextFileSync(`${root}/v1/envoy/k`, "1");
    Deno.writeTextFileSync(`${root}/v2/envoy/k`, "2");
    Deno.symlinkSync(`${root}/v1`, `${root}/current`);
    let changed: () => void = () => {};
    const reloaded = new Promise<void>((r) => (changed = r));
    const loader = new RuntimeLoader(
      layered({
        layers: [{
          name: "d",
          disk_layer: { symlink_root: `${root}/current`, subdirectory: "envoy" },
        }],
      }),
      new Store(),
      "",
      (s) => s.get("k") === "2" && changed(),
    );
    loader.watch();
    try {
      assertEquals(loader.snapshot().get("k"), "1");
      // The usual atomic swap: a new link renamed over the old one.
      Deno.symlinkSync(`${root}/v2`, `${root}/next`);
      Deno.renameSync(`${root}/next`, `${root}/current`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        reloaded,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("no reload")), 5000);
        }),
      ]);
      clearTimeout(timer);
      assertEquals(loader.snapshot().get("k"), "2");
    } finally {
      loader.close();
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("layered_runtime checks", () => {
  const issues = checkLayeredRuntime(layered({
    layers: [
      { name: "a", static_layer: { x: [1] } },
      { name: "a", admin_layer: {} },
      { name: "b", admin_layer: {} },
      { name: "r", rtds_layer: { name: "r" } },
    ],
  }));
  assertEquals(issues.map((i) => i.path), [
    "layered_runtime.layers[0].static_layer",
    "layered_runtime.layers[1].name",
    "layered_runtime.layers[2]",
    "layered_runtime.layers[3].rtds_layer.rtds_config",
  ]);
  assertEquals(issues[0].message, "Invalid runtime entry value for x");
  assertEquals(issues[1].message, "Duplicate layer name: a");
  assert(issues[2].message.startsWith("Too many admin layers"));
  assertEquals(issues[3].message, "rtds_config is required");
  assertEquals(checkLayeredRuntime(undefined), []);
});

Deno.test("an RTDS layer is empty until set; a new value takes a new snapshot; invalid values are refused and the layer kept", () => {
  const store = new Store();
  const seen: Snapshot[] = [];
  const loader = new RuntimeLoader(
    layered({
      layers: [
        { name: "static", static_layer: { a: 1 } },
        { name: "rtds", rtds_layer: { name: "rt", rtds_config: { ads: {} } } },
      ],
    }),
    store,
    "svc",
    (s) => seen.push(s),
  );
  assertEquals(loader.rtdsLayers().map((l) => [l.layer, l.resource]), [["rtds", "rt"]]);
  assertEquals(loader.snapshot().layers.map((l) => l.name), ["static", "rtds"]);
  assertEquals(loader.snapshot().getInteger("a", 0), 1);
  loader.setRtdsLayer("rtds", { a: 5, b: { c: "x" } });
  assertEquals(seen.length, 2);
  assertEquals(loader.snapshot().getInteger("a", 0), 5);
  assertEquals(loader.snapshot().get("b.c"), "x");
  throws(() => loader.setRtdsLayer("rtds", { a: [1] }), /Invalid runtime entry value for a/);
  assertEquals(loader.snapshot().getInteger("a", 0), 5);
  loader.setRtdsLayer("rtds", undefined);
  assertEquals(loader.snapshot().getInteger("a", 0), 1);
});
