/**
 * The runtime loader on the main thread (Envoy's `Runtime::LoaderImpl`): builds the layers of
 * `layered_runtime` (static, disk, admin, RTDS), merges them into a snapshot, keeps the admin
 * layer's overrides (`/runtime_modify`), reloads disk layers when their symlink root changes,
 * takes each RTDS layer's `Runtime` resource from its subscription (xds/rtds.ts: an RTDS layer
 * is empty until its first update), and keeps Envoy's `runtime.*` stats.
 *
 * @module
 */
import type {
  LayeredRuntime,
  RuntimeLayer,
} from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { getLogger } from "../common/logger.ts";
import type { Counter, Gauge } from "../stats/metrics.ts";
import type { Scope } from "../stats/store.ts";
import { readDiskLayer } from "./disk_layer.ts";
import { entryFromString, flattenStaticLayer } from "./entry.ts";
import { type RuntimeEntry, type RuntimeLayerData, Snapshot } from "./snapshot.ts";
import { configSourceProblems } from "../xds/config_source.ts";
import { RTDS } from "../xds/resource_types.ts";
import type { JsonObject } from "@bufbuild/protobuf";

const log = getLogger("runtime");

/** A problem in `layered_runtime`, at a path relative to it. */
export interface RuntimeConfigIssue {
  path: string;
  message: string;
  /** A feature denvoy does not implement yet (reported like an unsupported extension). */
  unsupported?: boolean;
}

/**
 * The checks Envoy makes when it builds the loader: unique layer names, at most one admin
 * layer, static layers without lists or nulls, RTDS layers with a usable `rtds_config`.
 */
export function checkLayeredRuntime(config: LayeredRuntime | undefined): RuntimeConfigIssue[] {
  const issues: RuntimeConfigIssue[] = [];
  const names = new Set<string>();
  let admin = false;
  config?.layers.forEach((layer, i) => {
    const path = `layered_runtime.layers[${i}]`;
    if (names.has(layer.name)) {
      issues.push({ path: `${path}.name`, message: `Duplicate layer name: ${layer.name}` });
    }
    names.add(layer.name);
    const spec = layer.layerSpecifier;
    if (spec.case === "adminLayer") {
      if (admin) {
        issues.push({
          path,
          message:
            "Too many admin layers specified in LayeredRuntime, at most one may be specified",
        });
      }
      admin = true;
    } else if (spec.case === "rtdsLayer") {
      const cs = spec.value.rtdsConfig;
      if (!cs) {
        issues.push({ path: `${path}.rtds_layer.rtds_config`, message: "rtds_config is required" });
      } else {
        for (const p of configSourceProblems(cs, RTDS)) {
          issues.push({
            path: `${path}.rtds_layer.rtds_config${p.field ? "." + p.field : ""}`,
            message: p.message,
            unsupported: p.unsupported,
          });
        }
      }
    } else if (spec.case === "staticLayer") {
      try {
        flattenStaticLayer(spec.value);
      } catch (e) {
        issues.push({ path: `${path}.static_layer`, message: (e as Error).message });
      }
    }
  });
  return issues;
}

/**
 * The layers Envoy runs with: the configured ones, or a lone admin layer when
 * `layered_runtime` lists none; no layers at all when the bootstrap has no `layered_runtime`.
 */
export function effectiveLayers(config: LayeredRuntime | undefined): RuntimeLayer[] {
  if (!config) return [];
  if (config.layers.length > 0) return config.layers;
  return [{
    $typeName: "envoy.config.bootstrap.v3.RuntimeLayer",
    name: "",
    layerSpecifier: { case: "adminLayer", value: { $typeName: "" } },
  } as unknown as RuntimeLayer];
}

/** Envoy's `runtime.*` stats. */
class RuntimeStats {
  readonly loadSuccess: Counter;
  readonly loadError: Counter;
  readonly overrideDirExists: Counter;
  readonly overrideDirNotExists: Counter;
  readonly deprecatedFeatureUse: Counter;
  readonly numKeys: Gauge;
  readonly numLayers: Gauge;
  readonly adminOverridesActive: Gauge;
  readonly deprecatedFeatureSeenSinceProcessStart: Gauge;

  constructor(scope: Scope) {
    const s = scope.scope("runtime");
    this.deprecatedFeatureUse = s.counter("deprecated_feature_use");
    this.loadError = s.counter("load_error");
    this.loadSuccess = s.counter("load_success");
    this.overrideDirExists = s.counter("override_dir_exists");
    this.overrideDirNotExists = s.counter("override_dir_not_exists");
    this.adminOverridesActive = s.gauge("admin_overrides_active", "NeverImport");
    this.deprecatedFeatureSeenSinceProcessStart = s.gauge(
      "deprecated_feature_seen_since_process_start",
      "NeverImport",
    );
    this.numKeys = s.gauge("num_keys", "NeverImport");
    this.numLayers = s.gauge("num_layers", "NeverImport");
  }
}

type RtdsConfig = Extract<RuntimeLayer["layerSpecifier"], { case: "rtdsLayer" }>["value"][
  "rtdsConfig"
];

/** Thrown by `mergeValues` when there is no admin layer; the admin answers 503. */
export class NoAdminLayerError extends Error {
  constructor() {
    super("No admin layer specified");
  }
}

/** The main thread's runtime. */
export class RuntimeLoader {
  readonly #layers: RuntimeLayer[];
  readonly #stats: RuntimeStats;
  readonly #serviceCluster: string;
  readonly #onSnapshot: (s: Snapshot) => void;
  /** The admin layer's overrides, if there is an admin layer. */
  readonly #admin: Map<string, RuntimeEntry> | undefined;
  #snapshot = new Snapshot();
  #watchers: Deno.FsWatcher[] = [];
  /** Each RTDS layer's values, by layer name (empty until its first update). */
  readonly #rtds = new Map<string, Record<string, RuntimeEntry>>();

  /**
   * @param config the bootstrap's `layered_runtime` (checked by `checkLayeredRuntime`).
   * @param serviceCluster the local cluster name, for `append_service_cluster`.
   * @param onSnapshot called with each new snapshot (including the first).
   */
  constructor(
    config: LayeredRuntime | undefined,
    stats: Scope,
    serviceCluster: string,
    onSnapshot: (s: Snapshot) => void = () => {},
  ) {
    this.#layers = effectiveLayers(config);
    this.#stats = new RuntimeStats(stats);
    this.#serviceCluster = serviceCluster;
    this.#onSnapshot = onSnapshot;
    if (this.#layers.some((l) => l.layerSpecifier.case === "adminLayer")) this.#admin = new Map();
    this.loadNewSnapshot();
  }

  /** The current snapshot. */
  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /**
   * Applies admin overrides: each key is set to its value, or its override removed when the
   * value is empty (values from other layers cannot be removed, only overridden).
   *
   * @throws {NoAdminLayerError} when the runtime has no admin layer.
   */
  mergeValues(values: Iterable<[string, string]>): void {
    const admin = this.#admin;
    if (!admin) throw new NoAdminLayerError();
    for (const [key, value] of values) {
      admin.delete(key);
      if (value !== "") admin.set(key, entryFromString(value));
    }
    this.#stats.adminOverridesActive.set(admin.size > 0 ? 1 : 0);
    this.loadNewSnapshot();
  }

  /** The RTDS layers: layer name, `Runtime` resource name and config source. */
  rtdsLayers(): { layer: string; resource: string; configSource: NonNullable<RtdsConfig> }[] {
    const out = [];
    for (const l of this.#layers) {
      const spec = l.layerSpecifier;
      if (spec.case === "rtdsLayer" && spec.value.rtdsConfig) {
        out.push({ layer: l.name, resource: spec.value.name, configSource: spec.value.rtdsConfig });
      }
    }
    return out;
  }

  /**
   * Sets RTDS layer `layer` to `values` (a `Runtime` resource's `layer`; undefined when it was
   * removed) and takes a new snapshot.
   *
   * @throws {Error} when the values are not a valid layer (the update is refused, nothing changes).
   */
  setRtdsLayer(layer: string, values: JsonObject | undefined): void {
    this.#rtds.set(layer, flattenStaticLayer(values ?? {}));
    this.loadNewSnapshot();
  }

  /** Counts a use of a deprecated feature (`runtime.deprecated_feature_use`). */
  countDeprecatedFeatureUse(): void {
    this.#stats.deprecatedFeatureUse.inc();
    this.#stats.deprecatedFeatureSeenSinceProcessStart.inc();
  }

  /** Rebuilds the snapshot from every layer (disk layers are re-read). */
  loadNewSnapshot(): void {
    const layers: RuntimeLayerData[] = [];
    let diskLayers = 0;
    let errorLayers = 0;
    for (const layer of this.#layers) {
      const spec = layer.layerSpecifier;
      if (spec.case === "staticLayer") {
        layers.push({ name: layer.name, entries: flattenStaticLayer(spec.value) });
      } else if (spec.case === "diskLayer") {
        const path = this.#diskPath(layer);
        if (!directoryExists(path)) continue;
        try {
          layers.push({ name: layer.name, entries: readDiskLayer(path) });
          diskLayers++;
        } catch (e) {
          // A broken tree leaves the layer out rather than failing the server, as in Envoy.
          errorLayers++;
          log.debug(`error loading runtime values for layer ${layer.name} from disk: ${e}`);
        }
      } else if (spec.case === "adminLayer") {
        layers.push({ name: layer.name, entries: Object.fromEntries(this.#admin!) });
      } else if (spec.case === "rtdsLayer") {
        layers.push({ name: layer.name, entries: this.#rtds.get(layer.name) ?? {} });
      }
    }
    const s = this.#stats;
    s.numLayers.set(layers.length);
    if (errorLayers === 0) s.loadSuccess.inc();
    else s.loadError.inc();
    // Envoy counts "exists" only when more than one disk layer loaded (the override directory).
    if (diskLayers > 1) s.overrideDirExists.inc();
    else s.overrideDirNotExists.inc();
    this.#snapshot = new Snapshot({ layers });
    s.numKeys.set(this.#snapshot.size);
    this.#onSnapshot(this.#snapshot);
  }

  /**
   * Reloads when a disk layer's symlink root changes (Envoy watches for the runtime tree being
   * swapped in by a rename of the symlink).
   */
  watch(): void {
    const byDir = new Map<string, Set<string>>();
    for (const l of this.#layers) {
      const root = l.layerSpecifier.case === "diskLayer"
        ? l.layerSpecifier.value.symlinkRoot.replace(/\/+$/, "")
        : "";
      if (!root) continue;
      const dir = parentDir(root);
      if (!byDir.has(dir)) byDir.set(dir, new Set());
      byDir.get(dir)!.add(root);
    }
    for (const [dir, roots] of byDir) {
      let w: Deno.FsWatcher;
      try {
        w = Deno.watchFs(dir, { recursive: false });
      } catch (e) {
        log.warn(`cannot watch runtime directory ${dir}: ${(e as Error).message}`);
        continue;
      }
      this.#watchers.push(w);
      (async () => {
        try {
          for await (const ev of w) {
            const swapped = (ev.kind === "rename" || ev.kind === "create") &&
              ev.paths.some((p) => roots.has(p));
            if (swapped) this.loadNewSnapshot();
          }
        } catch { /* closed */ }
      })();
    }
  }

  /** Stops watching disk layers. */
  close(): void {
    for (const w of this.#watchers.splice(0)) {
      try {
        w.close();
      } catch { /* already closed */ }
    }
  }

  #diskPath(layer: RuntimeLayer): string {
    const d = layer.layerSpecifier.value as { symlinkRoot: string; subdirectory: string } & {
      appendServiceCluster: boolean;
    };
    let path = `${d.symlinkRoot}/${d.subdirectory}`;
    if (d.appendServiceCluster) path += `/${this.#serviceCluster}`;
    return path;
  }
}

function directoryExists(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function parentDir(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const i = trimmed.lastIndexOf("/");
  return i <= 0 ? "/" : trimmed.slice(0, i);
}
