/**
 * What the admin API shows of the server, computed on the main thread from the bootstrap,
 * the options, the cluster manager and the logger: plain data for the admin endpoints.
 */
import { type JsonObject, toJson } from "@bufbuild/protobuf";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import type { Node } from "../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { ClusterInfo, HostInfo } from "../admin/admin.ts";
import type { CircuitBreakerThresholds, HealthFlag } from "../admin/clusters.ts";
import {
  levels,
  type LogLevel,
  parseLogLevel,
  setComponentLevel,
  setLevel,
} from "../common/logger.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import type { ExtensionRegistry } from "../config/extensions.ts";
import { formatAddress } from "../network/address.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { ClusterManager } from "../upstream/cluster_manager.ts";
import { type HostDescription, hostKey } from "../upstream/host.ts";
import { emptyHostStats, type HostStatsSnapshot } from "../upstream/host_stats.ts";
import {
  BUILD_REVISION,
  BUILD_STATUS,
  BUILD_VERSION,
  HOT_RESTART_VERSION,
  VERSION,
} from "../version.ts";
import { configDumpSections } from "./config_dump.ts";
import type { Options } from "./options.ts";

/** Seconds as Envoy's duration strings ("12s", "0.500s"). */
function duration(ms: number): string {
  return `${ms / 1000}s`;
}

/** `admin.v3.CommandLineOptions` (proto JSON) of the options, every field filled in. */
export function commandLineOptions(o: Options): JsonObject {
  return {
    base_id: String(o.baseId),
    use_dynamic_base_id: o.useDynamicBaseId,
    skip_hot_restart_on_no_parent: o.skipHotRestartOnNoParent,
    skip_hot_restart_parent_stats: o.skipHotRestartParentStats,
    base_id_path: o.baseIdPath,
    concurrency: o.concurrency,
    config_path: o.configPath,
    config_yaml: o.configYaml,
    allow_unknown_static_fields: o.allowUnknownStaticFields,
    reject_unknown_dynamic_fields: o.rejectUnknownDynamicFields,
    ignore_unknown_dynamic_fields: o.ignoreUnknownDynamicFields,
    admin_address_path: o.adminAddressPath,
    local_address_ip_version: o.localAddressIpVersion,
    log_level: o.logLevel,
    component_log_level: o.componentLogLevel,
    log_format: o.logFormat,
    log_format_escaped: o.logFormatEscaped,
    log_path: o.logPath,
    service_cluster: o.serviceCluster,
    service_node: o.serviceNode,
    service_zone: o.serviceZone,
    file_flush_interval: duration(o.fileFlushIntervalMsec),
    drain_time: duration(o.drainTimeS * 1000),
    drain_strategy: o.drainStrategy === "immediate" ? "Immediate" : "Gradual",
    parent_shutdown_time: duration(o.parentShutdownTimeS * 1000),
    mode: { serve: "Serve", validate: "Validate", init_only: "InitOnly" }[o.mode],
    disable_hot_restart: o.disableHotRestart,
    enable_mutex_tracing: o.enableMutexTracing,
    restart_epoch: o.restartEpoch,
    cpuset_threads: o.cpusetThreads,
    disabled_extensions: o.disabledExtensions,
    enable_fine_grain_logging: o.enableFineGrainLogging,
    socket_path: o.socketPath,
    socket_mode: o.socketMode,
    enable_core_dump: o.enableCoreDump,
    stats_tag: o.statsTags.map((t) => `${t.name}:${t.value}`),
  };
}

/**
 * The local node as Envoy reports it: the bootstrap's `node` with `--service-node`,
 * `--service-cluster` and `--service-zone` taking precedence, plus the user agent and the
 * extensions this build has.
 */
export function localNode(
  bootstrap: Bootstrap,
  o: Options,
  extensions?: ExtensionRegistry,
): JsonObject {
  const registry = apiRegistry();
  const node = bootstrap.node
    ? toJson(messageSchema<Node>("envoy.config.core.v3.Node"), bootstrap.node, {
      registry,
      useProtoFieldName: true,
    }) as JsonObject
    : {};
  if (o.serviceNode) node.id = o.serviceNode;
  if (o.serviceCluster) node.cluster = o.serviceCluster;
  if (o.serviceZone) {
    node.locality = { ...(node.locality as JsonObject ?? {}), zone: o.serviceZone };
  }
  const [major, minor, patch] = VERSION.split(/[.-]/).map(Number);
  node.user_agent_name = "envoy";
  node.user_agent_build_version = {
    version: { major_number: major, minor_number: minor, patch },
    metadata: {
      "revision.sha": BUILD_REVISION,
      "revision.status": BUILD_STATUS,
      "build.type": "RELEASE",
      "ssl.version": "BoringSSL",
    },
  };
  if (extensions) {
    node.extensions = extensions.all().map((f) => ({
      name: f.name,
      category: f.category,
      type_urls: f.configTypes.map((t) => `type.googleapis.com/${t}`),
    }));
  }
  return node;
}

/** The thresholds in force for a cluster, DEFAULT then HIGH, Envoy's defaults filled in. */
function circuitBreakers(cluster: Cluster): CircuitBreakerThresholds[] {
  return (["DEFAULT", "HIGH"] as const).map((priority, p) => {
    const t = cluster.info.circuitBreakers[p];
    return {
      priority,
      maxConnections: t.maxConnections,
      maxPendingRequests: t.maxPendingRequests,
      maxRequests: t.maxRequests,
      maxRetries: t.maxRetries,
    };
  });
}

/** The admin's read (and few write) operations on the server. */
export class AdminView {
  readonly #startedAt = Date.now();
  /** When the first epoch started (a hot restart's child learns it from its parent). */
  originalStartedAt = this.#startedAt;
  healthcheckFailed = false;

  constructor(
    /** The bootstrap serving (a reload replaces it). */
    public bootstrap: Bootstrap,
    readonly options: Options,
    readonly clusterManager: () => ClusterManager | undefined,
    /** Sent to workers when the log level changes, so their loggers follow. */
    readonly onLogLevels: (levels: Record<string, LogLevel>) => void,
    readonly extensions?: ExtensionRegistry,
  ) {}

  serverInfo(state: string) {
    const up = Date.now() - this.#startedAt;
    return {
      version: BUILD_VERSION,
      state,
      // Envoy reports "disabled" without hot restart, as `--hot-restart-version` prints.
      hotRestartVersion: this.options.disableHotRestart ? "disabled" : HOT_RESTART_VERSION,
      commandLineOptions: commandLineOptions(this.options),
      node: localNode(this.bootstrap, this.options, this.extensions),
      uptimeCurrentEpochSeconds: Math.floor(up / 1000),
      uptimeAllEpochsSeconds: Math.floor((Date.now() - this.originalStartedAt) / 1000),
    };
  }

  listeners(): { name: string; address: string }[] {
    return (this.bootstrap.staticResources?.listeners ?? []).map((l) => ({
      name: l.name,
      address: formatAddress(l.address),
    }));
  }

  /** Every cluster with its hosts, their stats from `hostStats` (merged over workers). */
  clusters(hostStats: HostStatsSnapshot = {}): ClusterInfo[] {
    const cm = this.clusterManager();
    if (!cm) return [];
    return cm.names().map((name) => {
      const cluster = cm.get(name)!;
      const stats = hostStats[name] ?? {};
      const hosts: HostInfo[] = cluster.prioritySet.allHosts().map((h) => {
        const address = hostKey(h);
        const flags = healthFlags(h);
        const outlier = cluster.health?.states.get(address)?.outlier;
        return {
          address,
          hostname: h.hostname,
          healthFlags: flags,
          weight: h.weight,
          priority: h.priority,
          region: h.locality.region,
          zone: h.locality.zone,
          subZone: h.locality.subZone,
          canary: h.metadata?.["envoy.lb"]?.canary === true,
          stats: stats[address] ?? emptyHostStats(),
          ...(outlier
            ? {
              successRate: outlier.successRate,
              localOriginSuccessRate: outlier.localOriginSuccessRate,
            }
            : {}),
        };
      });
      const eds = cluster.config?.edsClusterConfig?.serviceName;
      const od = cluster.outlierDetector;
      return {
        name,
        observabilityName: cluster.info.statName,
        addedViaApi: false,
        ...(eds ? { edsServiceName: eds } : {}),
        circuitBreakers: circuitBreakers(cluster),
        hosts,
        ...(od
          ? {
            outlier: {
              successRateAverage: od.successRateAverage,
              successRateEjectionThreshold: od.successRateEjectionThreshold,
              localOriginSuccessRateAverage: od.localOriginSuccessRateAverage,
              localOriginSuccessRateEjectionThreshold: od.localOriginSuccessRateEjectionThreshold,
            },
          }
          : {}),
      };
    });
  }

  configDump(includeEds = false): JsonObject[] {
    return configDumpSections(
      this.bootstrap,
      this.clusterManager(),
      new Date(this.#startedAt).toISOString(),
      includeEds,
    );
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

/** A host's health flags in Envoy's order (`healthFlagsToString`). */
export function healthFlags(h: HostDescription): HealthFlag[] {
  const f = h.flags;
  if (!f) return h.healthy ? [] : [h.degraded ? "degraded_eds_health" : "failed_eds_health"];
  const out: HealthFlag[] = [];
  if (f.failedActiveHc) out.push("failed_active_hc");
  if (f.failedOutlierCheck) out.push("failed_outlier_check");
  if (!f.edsHealthy && !f.edsDegraded) out.push("failed_eds_health");
  if (f.degradedActiveHc) out.push("degraded_active_hc");
  if (f.edsDegraded) out.push("degraded_eds_health");
  if (f.pendingDynamicRemoval) out.push("pending_dynamic_removal");
  if (f.pendingActiveHc) out.push("pending_active_hc");
  if (f.excludedViaImmediateHcFail) out.push("excluded_via_immediate_hc_fail");
  if (f.activeHcTimeout) out.push("active_hc_timeout");
  return out;
}
