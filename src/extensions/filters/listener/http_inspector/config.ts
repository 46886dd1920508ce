/**
 * The HTTP inspector listener filter (`envoy.filters.listener.http_inspector`): on plaintext
 * connections, sets the application protocol to `http/1.0`, `http/1.1` or `h2c` from the first
 * bytes, for filter chain matching. Connections a tls_inspector found to be TLS are left alone.
 * Stats under `http_inspector.` as Envoy names them.
 */
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import {
  type AcceptedSocket,
  CONTINUE,
  type ListenerFilter,
  type ListenerFilterStatus,
  STOP_ITERATION,
} from "../../../../listener/listener_filter.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import { detectHttp, MAX_INSPECT_SIZE, NEED_MORE, NOT_HTTP } from "./http_inspector.ts";

const HTTP_INSPECTOR = "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";

/** The `http_inspector.*` stats. */
class HttpInspectorStats {
  readonly http10Found: Counter;
  readonly http11Found: Counter;
  readonly http2Found: Counter;
  readonly httpNotFound: Counter;

  constructor(s: Scope) {
    // read_error is Envoy's count of failed peeks; reads here fail as remote closes instead.
    s.counter("read_error");
    this.http10Found = s.counter("http10_found");
    this.http11Found = s.counter("http11_found");
    this.http2Found = s.counter("http2_found");
    this.httpNotFound = s.counter("http_not_found");
  }
}

const HTTP10 = ["http/1.0"];
const HTTP11 = ["http/1.1"];
const H2C = ["h2c"];

/** The filter, shared by a listener's sockets. */
export class HttpInspectorFilter implements ListenerFilter {
  readonly maxReadBytes = MAX_INSPECT_SIZE;

  constructor(readonly stats: HttpInspectorStats) {}

  onData(s: AcceptedSocket): ListenerFilterStatus {
    if (s.transportProtocol !== "" && s.transportProtocol !== "raw_buffer") return CONTINUE;
    const p = detectHttp(s.data);
    if (p === NEED_MORE) return STOP_ITERATION;
    if (p === NOT_HTTP) this.stats.httpNotFound.inc();
    else if (p === "h2c") {
      this.stats.http2Found.inc();
      s.applicationProtocols = H2C;
    } else if (p === "http/1.1") {
      this.stats.http11Found.inc();
      s.applicationProtocols = HTTP11;
    } else {
      this.stats.http10Found.inc();
      s.applicationProtocols = HTTP10;
    }
    return CONTINUE;
  }
}

/** Factory for http_inspector. */
export const httpInspectorFactory: ExtensionFactory = {
  name: "envoy.filters.listener.http_inspector",
  aliases: ["envoy.listener.http_inspector"],
  category: "envoy.filters.listener",
  configTypes: [HTTP_INSPECTOR],
  fields: { implemented: { [HTTP_INSPECTOR]: [] } },
  createListenerFilter(_config, ctx) {
    return new HttpInspectorFilter(
      new HttpInspectorStats(ctx.server.stats.scope("http_inspector")),
    );
  },
};
