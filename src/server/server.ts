/**
 * The server's life cycle on the main thread: load the bootstrap, initialize, serve until a
 * termination signal, shut down. `--mode validate` stops after loading (no sockets are
 * opened) and `--mode init_only` after initializing, as in Envoy.
 */
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import type { Address } from "../../proto/gen/envoy/config/core/v3/address_pb.ts";
import { getLogger } from "../common/logger.ts";
import { loadBootstrap } from "../config/bootstrap.ts";
import { formatIssue } from "../config/errors.ts";
import type { ExtensionRegistry } from "../config/extensions.ts";
import { BUILD_VERSION } from "../version.ts";
import type { Options } from "./options.ts";

const log = getLogger("main");
const configLog = getLogger("config");

/** Where the server writes what an operator must see even with logging off. */
export interface Console {
  out(text: string): void;
  err(text: string): void;
}

/** `ip:port` as Envoy prints addresses (IPv6 in brackets). */
export function formatAddress(a: Address | undefined): string {
  const sa = a?.address;
  if (sa?.case === "socketAddress") {
    const ps = sa.value.portSpecifier;
    const port = ps.case === "portValue" ? String(ps.value) : ps.value ?? "0";
    return sa.value.address.includes(":")
      ? `[${sa.value.address}]:${port}`
      : `${sa.value.address}:${port}`;
  }
  if (sa?.case === "pipe") return sa.value.path;
  if (sa?.case === "envoyInternalAddress") {
    return `envoy://${sa.value.addressNameSpecifier.value ?? ""}`;
  }
  return "(no address)";
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
export class Server {
  #stopped: (() => void) | undefined;

  constructor(readonly bootstrap: Bootstrap, readonly options: Options) {}

  /** Logs what Envoy logs on start-up and what this configuration will serve. */
  initialize(): void {
    const b = this.bootstrap;
    const node = b.node;
    log.info(`initializing epoch ${this.options.restartEpoch} (base id=${this.options.baseId})`);
    log.info(`denvoy version: ${BUILD_VERSION}`);
    log.info(
      `node id: '${node?.id || this.options.serviceNode}', cluster: ` +
        `'${
          node?.cluster || this.options.serviceCluster
        }', concurrency: ${this.options.concurrency}`,
    );
    if (b.admin?.address) log.info(`admin address: ${formatAddress(b.admin.address)}`);
    const clusters = b.staticResources?.clusters ?? [];
    log.info(
      `cm init: ${clusters.length} static cluster(s): ${clusters.map((c) => c.name).join(", ")}`,
    );
    for (const l of b.staticResources?.listeners ?? []) {
      log.info(
        `listener '${l.name}' on ${formatAddress(l.address)} with ${l.filterChains.length} ` +
          `filter chain(s)`,
      );
    }
  }

  /** Serves until SIGTERM/SIGINT (or `stop()`), then shuts down. */
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
    // Sockets arrive with the data path (issue #3); until then the server holds no listeners.
    log.info("all listeners ready (the data path lands with issue #3: no sockets are open yet)");
    log.info("starting main dispatch loop");
    await done;
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    log.info("main dispatch loop exited");
    log.info("exiting");
  }

  /** Asks a running server to shut down. */
  stop(): void {
    this.#stopped?.();
  }
}
