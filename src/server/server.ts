/**
 * The server's life cycle on the main thread: load the bootstrap, initialize, serve until a
 * termination signal, shut down. `--mode validate` stops after loading (no sockets are
 * opened) and `--mode init_only` after initializing, as in Envoy.
 */
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { getLogger } from "../common/logger.ts";
import { formatAddress } from "../network/address.ts";
import { loadBootstrap } from "../config/bootstrap.ts";
import { formatIssue } from "../config/errors.ts";
import type { ExtensionRegistry, ServerContext } from "../config/extensions.ts";
import {
  type AdminListener,
  type AdminServer,
  createAdminApp,
  type ServerState,
  startAdmin,
} from "../admin/admin.ts";
import { ActiveListener } from "../listener/listener.ts";
import {
  configureDefaultAccessLogManager,
  defaultAccessLogManager,
} from "../extensions/access_loggers/access_log_manager.ts";
import { ClusterManager } from "../upstream/cluster_manager.ts";
import { ConnPoolManager } from "../upstream/conn_pool.ts";
import { BUILD_VERSION } from "../version.ts";
import type { Options } from "./options.ts";

const log = getLogger("main");
const configLog = getLogger("config");

/** Where the server writes what an operator must see even with logging off. */
export interface Console {
  out(text: string): void;
  err(text: string): void;
}

/** Loads the bootstrap; returns it, or undefined after reporting every issue. */
export function loadConfig(
  options: Options,
  extensions: ExtensionRegistry,
  console: Console,
): Bootstrap | undefined {
  const result = loadBootstrap(
    { configPath: options.configPath || undefined, configYaml: options.configYaml || undefined },
    extensions,
  );
  if (result.bootstrap) return result.bootstrap;
  const lines = result.issues.map(formatIssue);
  if (options.mode === "validate") {
    // Validation is a command-line tool: its findings go to the terminal whatever the log level.
    console.err(lines.join("\n") + "\n");
    const n = result.issues.length;
    console.err(
      `configuration '${options.configPath || "--config-yaml"}' is invalid: ` +
        `${n} error${n === 1 ? "" : "s"}\n`,
    );
  } else {
    for (const line of lines) configLog.critical(line);
    log.critical(
      `error initializing configuration '${options.configPath}': ` +
        `${result.issues.length} error(s) (see above)`,
    );
  }
  return undefined;
}

/** A running (or about to run) server instance. */
export class Server implements AdminServer {
  #stopped: (() => void) | undefined;
  #state: ServerState = "PRE_INITIALIZING";
  #listeners: ActiveListener[] = [];
  #admin: AdminListener | undefined;
  #ctx: ServerContext | undefined;

  constructor(
    readonly bootstrap: Bootstrap,
    readonly options: Options,
    readonly extensions: ExtensionRegistry,
  ) {}

  state(): ServerState {
    return this.#state;
  }

  /** Ports the listeners bound, by listener name (tests bind port 0). */
  listenerPorts(): Record<string, number> {
    return Object.fromEntries(this.#listeners.map((l) => [l.name, l.port]));
  }

  /**
   * Builds the cluster manager and every listener (compiling route tables and filter chains),
   * waiting for the first DNS answers of DNS clusters, as Envoy's init manager does.
   * Throws an Error naming the first problem.
   */
  async initialize(): Promise<void> {
    const b = this.bootstrap;
    const node = b.node;
    this.#state = "INITIALIZING";
    log.info(`initializing epoch ${this.options.restartEpoch} (base id=${this.options.baseId})`);
    log.info(`denvoy version: ${BUILD_VERSION}`);
    log.info(
      `node id: '${node?.id || this.options.serviceNode}', cluster: ` +
        `'${node?.cluster || this.options.serviceCluster}', concurrency: ` +
        `${this.options.concurrency}`,
    );
    configureDefaultAccessLogManager(this.options.fileFlushIntervalMsec);
    const clusterManager = new ClusterManager(b.staticResources?.clusters ?? []);
    this.#ctx = { extensions: this.extensions, clusterManager, pools: new ConnPoolManager() };
    for (const l of b.staticResources?.listeners ?? []) {
      this.#listeners.push(new ActiveListener(l, this.#ctx));
      log.info(
        `listener '${l.name}' on ${formatAddress(l.address)} with ${l.filterChains.length} ` +
          `filter chain(s)`,
      );
    }
    log.info(`cm init: initializing ${clusterManager.names().length} static cluster(s)`);
    await clusterManager.initialize();
    log.info("cm init: all clusters initialized");
  }

  /** Binds the admin and every listener, serves until SIGTERM/SIGINT (or `stop()`). */
  async run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.#stopped = resolve));
    const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
    const handlers = signals.map((sig) => {
      const h = () => {
        log.warn(`caught ${sig}`);
        this.stop();
      };
      Deno.addSignalListener(sig, h);
      return [sig, h] as const;
    });
    try {
      const admin = this.bootstrap.admin?.address?.address;
      if (admin?.case === "socketAddress") {
        const ps = admin.value.portSpecifier;
        this.#admin = startAdmin(
          createAdminApp(this),
          admin.value.address,
          ps.case === "portValue" ? ps.value : 0,
        );
        log.info(`admin address: ${admin.value.address}:${this.#admin.port}`);
      }
      for (const l of this.#listeners) l.bind();
    } catch (e) {
      for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
      await this.#shutdown();
      throw e;
    }
    for (const l of this.#listeners) {
      l.serve().catch((e) => log.error(`listener '${l.name}': ${(e as Error).message}`));
    }
    this.#state = "LIVE";
    log.info(
      `all listeners ready: ${
        this.#listeners.map((l) => `'${l.name}' on port ${l.port}`).join(", ") || "(none)"
      }`,
    );
    log.info("starting main dispatch loop");
    await done;
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    log.info("main dispatch loop exited");
    await this.#shutdown();
    log.info("exiting");
  }

  async #shutdown(): Promise<void> {
    this.#state = "DRAINING";
    for (const l of this.#listeners) l.close(true);
    this.#ctx?.pools.close();
    this.#ctx?.clusterManager.destroy();
    await this.#admin?.close();
    // Buffered access log lines must not be lost on a clean shutdown.
    await defaultAccessLogManager().close();
  }

  /** Asks a running server to shut down. */
  stop(): void {
    this.#stopped?.();
  }
}
