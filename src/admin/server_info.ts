/**
 * The endpoints about the server itself: `/server_info`, `/ready`, `/hot_restart_version`,
 * `/memory`, `/certs`, `/init_dump` and `/contention`, in Envoy's formats.
 *
 * @module
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { type Handler, json, text } from "./handler.ts";
import { protoJson } from "./proto_json.ts";

/** The server state names Envoy reports (`/ready`, `/server_info`). */
export type ServerState = "LIVE" | "DRAINING" | "PRE_INITIALIZING" | "INITIALIZING";

/** `/server_info` data; rendered as Envoy's `admin.v3.ServerInfo`. */
export interface ServerInfo {
  version: string;
  state: ServerState;
  uptimeCurrentEpochSeconds: number;
  uptimeAllEpochsSeconds: number;
  hotRestartVersion: string;
  /** `admin.v3.CommandLineOptions` as proto JSON (snake_case keys, enum names). */
  commandLineOptions: JsonObject;
  /** `config.core.v3.Node` as proto JSON. */
  node: JsonObject;
}

/** What these endpoints need of the server. */
export interface ServerInfoAdmin {
  state(): ServerState;
  serverInfo(): ServerInfo;
  /** `admin.v3.Memory` fields (uint64 as decimal strings): allocated, heap_size, ... */
  memory(): Record<string, string>;
  /** `admin.v3.Certificate` JSON of every TLS context (none until TLS is configured). */
  certificates(): JsonValue[];
  /** Whether `--enable-mutex-tracing` was given. */
  mutexTracingEnabled(): boolean;
}

/** Envoy's `/server_info` JSON: every field printed, defaults included. */
export function serverInfoJson(i: ServerInfo): JsonValue {
  return protoJson("envoy.admin.v3.ServerInfo", {
    version: i.version,
    state: i.state,
    uptime_current_epoch: `${Math.floor(i.uptimeCurrentEpochSeconds)}s`,
    uptime_all_epochs: `${Math.floor(i.uptimeAllEpochsSeconds)}s`,
    hot_restart_version: i.hotRestartVersion,
    command_line_options: i.commandLineOptions,
    node: i.node,
  }, true);
}

/** The endpoints of this module. */
export function serverInfoHandlers(server: ServerInfoAdmin): Handler[] {
  return [
    {
      path: "/certs",
      help: "print certs on machine",
      post: false,
      params: [],
      run: (c) =>
        json(
          c,
          protoJson("envoy.admin.v3.Certificates", { certificates: server.certificates() }, true),
        ),
    },
    {
      path: "/contention",
      help: "dump current Envoy mutex contention stats (if enabled)",
      post: false,
      params: [],
      run: (c) =>
        server.mutexTracingEnabled()
          // JavaScript isolates share no mutexes, so there is never any contention to report.
          ? json(c, protoJson("envoy.admin.v3.MutexStats", {}, true))
          : text(
            c,
            "Mutex contention tracing is not enabled. To enable, run Envoy with flag " +
              "--enable-mutex-tracing.",
          ),
    },
    {
      path: "/hot_restart_version",
      help: "print the hot restart compatibility version",
      post: false,
      params: [],
      run: (c) => text(c, server.serverInfo().hotRestartVersion),
    },
    {
      path: "/init_dump",
      help: "dump current Envoy init manager information (experimental)",
      post: false,
      params: [{
        id: "mask",
        help: "The desired component to dump unready targets. The mask is parsed as a " +
          "ProtobufWkt::FieldMask. For example, get the unready targets of all listeners with " +
          "/init_dump?mask=listener`",
      }],
      // The admin listens only once the init manager is done (clusters warmed, listeners
      // built), so there are never unready targets to list.
      run: (c) => json(c, protoJson("envoy.admin.v3.UnreadyTargetsDumps", {})),
    },
    {
      path: "/memory",
      help: "print current allocation/heap usage",
      post: false,
      params: [],
      run: (c) => json(c, protoJson("envoy.admin.v3.Memory", server.memory(), true)),
    },
    {
      path: "/ready",
      help: "print server state, return 200 if LIVE, otherwise return 503",
      post: false,
      params: [],
      run: (c) => {
        const state = server.state();
        return text(c, `${state}\n`, state === "LIVE" ? 200 : 503);
      },
    },
    {
      path: "/server_info",
      help: "print server version/status information",
      post: false,
      params: [],
      run: (c) => json(c, serverInfoJson(server.serverInfo())),
    },
  ];
}
