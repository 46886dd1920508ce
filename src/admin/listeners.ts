/**
 * `/listeners` (text and `format=json`, as `admin.v3.Listeners`) and `POST /drain_listeners`
 * (`inboundonly`, `graceful`, `skip_exit`).
 *
 * @module
 */
import { addressJson } from "./clusters.ts";
import { FORMAT, type Handler, json, queryParam, text } from "./handler.ts";
import { protoJson } from "./proto_json.ts";

/** One listener for `/listeners`; `address` as Envoy prints it ("0.0.0.0:80", "[::1]:80"). */
export interface ListenerInfo {
  name: string;
  address: string;
}

/** `/drain_listeners` query flags. */
export interface DrainOptions {
  /** `inboundonly`: drain only listeners whose `traffic_direction` is INBOUND. */
  inboundOnly: boolean;
  /** `graceful`: drain connections over the drain time before the listeners stop. */
  graceful: boolean;
  /** `skip_exit` (requires `graceful`): drain but leave the listeners accepting afterwards. */
  skipExit: boolean;
}

/** What these endpoints need of the server. */
export interface ListenersAdmin {
  listeners(): ListenerInfo[];
  drainListeners(opts: DrainOptions): void;
}

/** The listener endpoints. */
export function listenerHandlers(server: ListenersAdmin): Handler[] {
  return [
    {
      path: "/drain_listeners",
      help: "drain listeners",
      post: true,
      params: [
        {
          id: "graceful",
          flag: true,
          help: "When draining listeners, enter a graceful drain period prior to closing " +
            "listeners. This behaviour and duration is configurable via server options or CLI",
        },
        {
          id: "skip_exit",
          flag: true,
          help: "When draining listeners, do not exit after the drain period. This must be " +
            "used with graceful",
        },
        {
          id: "inboundonly",
          flag: true,
          help: "Drains all inbound listeners. traffic_direction field in " +
            "envoy_v3_api_msg_config.listener.v3.Listener is used to determine whether a " +
            "listener is inbound or outbound.",
        },
      ],
      run: (c, q) => {
        const graceful = q.has("graceful");
        const skipExit = q.has("skip_exit");
        if (skipExit && !graceful) {
          return text(c, "skip_exit requires graceful\n", 400);
        }
        server.drainListeners({ inboundOnly: q.has("inboundonly"), graceful, skipExit });
        return text(c, "OK\n");
      },
    },
    {
      path: "/listeners",
      help: "print listener info",
      post: false,
      params: [FORMAT],
      run: (c, q) => {
        const ls = server.listeners();
        if (queryParam(q, "format") === "json") {
          return json(
            c,
            protoJson("envoy.admin.v3.Listeners", {
              listener_statuses: ls.map((l) => ({
                name: l.name,
                local_address: addressJson(l.address),
              })),
            }),
          );
        }
        return text(c, ls.map((l) => `${l.name}::${l.address}\n`).join(""));
      },
    },
  ];
}
