/**
 * What the admin API shows of the server, computed on the main thread from the bootstrap,
 * the options, the cluster manager and the logger: plain data for the admin endpoints.
 */
import { toJson } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import {
  levels,
  type LogLevel,
  parseLogLevel,
  setComponentLevel,
  setLevel,
} from "../common/logger.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { formatAddress } from "../network/address.ts";
import type { ClusterManager } from "../upstream/cluster_manager.ts";
import { BUILD_VERSION, HOT_RESTART_VERSION } from "../version.ts";
import type { Options } from "./options.ts";

/** Replaces inline secrets (private keys, passwords) in a JSON config dump, as Envoy does. */
export function redactSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactSecrets);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (/^(private_key|privateKey|password)$/.test(k) && x && typeof x === "object") {
      const ds = x as Record<string, unknown>;
      out[k] = "filename" in ds ? ds : { inline_string: "[redacted]" };
    } else out[k] = redactSecrets(x);
  }
  return out;
}

/** Seconds as Envoy's duration strings ("12s"). */
function seconds(ms: number): string {
  return `${Math.floor(ms / 1000)}s`;
}

/** The admin's read (and few write) operations on the server. */
export class AdminView {
  readonly #startedAt = Date.now();
  healthcheckFailed = false;

  constructor(
    readonly bootstrap: Bootstrap,
    readonly options: Options,
    readonly clusterManager: () => ClusterManager | undefined,
    /** Sent to workers when the log level changes, so their loggers follow. */
    readonly onLogLevels: (levels: Record<string, LogLevel>) => void,
  ) {}

  serverInfo(state: string) {
    const up = Date.now() - this.#startedAt;
    const o = this.options;
    return {
      version: BUILD_VERSION,
      state,
      hotRestartVersion: HOT_RESTART_VERSION,
      commandLineOptions: {
        base_id: o.baseId,
        concurrency: o.concurrency,
        config_path: o.configPath,
        config_yaml: o.configYaml,
        log_level: o.logLevel,
        component_log_level: o.componentLogLevel,
        log_format: o.logFormat,
        log_path: o.logPath,
        restart_epoch: o.restartEpoch,
        service_cluster: o.serviceCluster,
        service_node: o.serviceNode,
        service_zone: o.serviceZone,
        mode: o.mode,
        drain_time: seconds(o.drainTimeS * 1000),
        parent_shutdown_time: seconds(o.parentShutdownTimeS * 1000),
        disable_hot_restart: o.disableHotRestart,
      },
      node: {
        id: this.bootstrap.node?.id || o.serviceNode,
        cluster: this.bootstrap.node?.cluster || o.serviceCluster,
      },
      uptimeCurrentEpochSeconds: Math.floor(up / 1000),
      uptimeAllEpochsSeconds: Math.floor(up / 1000),
    };
  }

  listeners(): { name: string; address: string }[] {
    return (this.bootstrap.staticResources?.listeners ?? []).map((l) => ({
      name: l.name,
      address: formatAddress(l.address),
    }));
  }

  clusters() {
    const cm = this.clusterManager();
    if (!cm) return [];
    return cm.names().map((name) => ({
      name,
      hosts: cm.get(name)!.prioritySet.allHosts().map((h) => ({
        address: h.address.includes(":") ? `[${h.address}]:${h.port}` : `${h.address}:${h.port}`,
        healthy: h.healthy,
        weight: h.weight,
        priority: h.priority,
        zone: h.locality.zone,
        region: h.locality.region,
      })),
    }));
  }

  configDump(): unknown {
    const schema = messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap");
    const bootstrap = toJson(schema, this.bootstrap, {
      registry: apiRegistry(),
      useProtoFieldName: true,
    });
    return {
      configs: [{
        "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
        bootstrap: redactSecrets(bootstrap),
        last_updated: new Date(this.#startedAt).toISOString(),
      }],
    };
  }

  logLevels(): Record<string, string> {
    return levels();
  }

  /** Sets all loggers (`component` undefined) or one; throws for unknown names. */
  setLogLevel(component: string | undefined, level: string): void {
    const l = parseLogLevel(level);
    if (!l) throw new Error(`unknown log level '${level}'`);
    if (component === undefined) setLevel(l);
    else setComponentLevel(component, l);
    this.onLogLevels(levels());
  }

  memory(): Record<string, string> {
    const m = Deno.memoryUsage();
    return {
      allocated: String(m.heapUsed),
      heap_size: String(m.heapTotal),
      pageheap_unmapped: "0",
      pageheap_free: "0",
      total_thread_cache: "0",
      total_physical_bytes: String(m.rss),
    };
  }
}
