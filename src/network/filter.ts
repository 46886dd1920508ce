/**
 * Network (L4) filters: what runs on a connection once its filter chain is chosen. denvoy's
 * terminal network filters (HTTP connection manager, tcp_proxy) take the connection over.
 */
import type { FilterChainDescription, StreamInfo } from "../stream_info/stream_info.ts";
import type { Connection } from "./connection.ts";

/** Facts about an accepted connection that filters and access logs use. */
export interface ConnectionContext {
  /** Listener name, for stats and logs. */
  listenerName: string;
  /**
   * What the connection drains under (server/drain_manager.ts): the listener's name, or its
   * instance's own key once an update replaced the listener (only the old one drains).
   */
  drainKey: string;
  /** SNI, when known. */
  requestedServerName?: string;
  /** ClientHello fingerprints a tls_inspector took (`%TLS_JA3_FINGERPRINT%`, ...). */
  ja3?: string;
  ja4?: string;
  /** Dynamic metadata listener filters set on the connection (proxy_protocol TLVs). */
  dynamicMetadata?: Record<string, Record<string, unknown>>;
  /** Connection filter state listener filters set (the PROXY protocol header's TLVs). */
  filterState?: ReadonlyMap<string, unknown>;
  /** The filter chain that took the connection (built once per chain). */
  filterChain?: FilterChainDescription;
  /**
   * The connection's StreamInfo when the listener keeps one (listener access logs); a TCP
   * proxy records into it, so the listener's log sees what the proxy did.
   */
  streamInfo?: StreamInfo;
}

/**
 * What a filter before the terminal one says of a new connection (Envoy's `onNewConnection`):
 * go on to the next filter, or stop (it closed the connection).
 */
export type NetworkFilterStatus = "continue" | "stop";

/**
 * Starts the filter on one connection. The terminal filter owns the connection from then on;
 * a filter before it returns its status.
 */
export type NetworkFilterFactoryCb = (
  conn: Connection,
  ctx: ConnectionContext,
) => void | NetworkFilterStatus;
