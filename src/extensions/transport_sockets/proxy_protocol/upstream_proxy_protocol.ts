/**
 * The upstream PROXY protocol transport socket (`envoy.transport_sockets.upstream_proxy_protocol`):
 * every upstream connection of the cluster starts with a PROXY protocol header (v1 or v2) ahead
 * of the bytes of the transport socket it wraps (raw_buffer; TLS is refused until it exists).
 * As in Envoy, the header carries the downstream connection's PROXY protocol facts when the
 * connection has them (tcp_proxy always provides its downstream addresses); otherwise (HTTP
 * pools, which Envoy gives no downstream addresses either) a v1 header names the upstream
 * connection's own addresses and a v2 header is a LOCAL one.
 */
import type { TransportSocket } from "../../../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { ProxyProtocolUpstreamTransport } from "../../../../proto/gen/envoy/extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol_pb.ts";
import { unpackAny } from "../../../config/any.ts";
import { PassTlvsMatchType, ProxyProtocolVersion } from "../../../config/api_enums.ts";
import {
  type ProxyProtocolData,
  v1Header,
  v2Header,
} from "../../common/proxy_protocol/proxy_protocol_header.ts";

export const UPSTREAM_PROXY_PROTOCOL =
  "envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport";
const RAW_BUFFER = "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";

/** A cluster's upstream PROXY protocol settings (plain data: it travels to workers). */
export interface UpstreamProxyProtocol {
  version: 1 | 2;
  /** pass_through_tlvs: all of the downstream header's TLVs, or those of these types. */
  passAll: boolean;
  passTypes: number[];
}

/** The type name of a TransportSocket's config (by type URL, else by name). */
function typeOf(ts: TransportSocket): string {
  const url = ts.configType.case === "typedConfig" ? ts.configType.value.typeUrl : "";
  return url.slice(url.lastIndexOf("/") + 1);
}

/** Why the wrapped transport socket cannot be used, or undefined (raw_buffer, or none). */
export function innerProblem(inner: TransportSocket | undefined): string | undefined {
  if (!inner) return undefined;
  const t = typeOf(inner);
  if (t === RAW_BUFFER || (t === "" && inner.name === "envoy.transport_sockets.raw_buffer")) {
    return undefined;
  }
  return `upstream_proxy_protocol wrapping '${inner.name || t}' is not supported yet ` +
    "(only raw_buffer)";
}

/**
 * The settings of a cluster's transport socket when it is upstream_proxy_protocol; undefined
 * for raw_buffer (or none). Problems go to `problems`.
 */
export function upstreamProxyProtocolOf(
  ts: TransportSocket | undefined,
  problems: string[],
): UpstreamProxyProtocol | undefined {
  if (!ts || typeOf(ts) !== UPSTREAM_PROXY_PROTOCOL) return undefined;
  const c = ts.configType.case === "typedConfig"
    ? unpackAny<ProxyProtocolUpstreamTransport>(ts.configType.value)
    : undefined;
  const problem = innerProblem(c?.transportSocket);
  if (problem) {
    problems.push(`transport_socket: ${problem}`);
    return undefined;
  }
  const p = c?.config?.passThroughTlvs;
  return {
    version: c?.config?.version === ProxyProtocolVersion.V2 ? 2 : 1,
    passAll: p?.matchType === PassTlvsMatchType.INCLUDE_ALL,
    passTypes: p ? [...p.tlvType] : [],
  };
}

/** The addresses of an upstream connection, for a header without downstream facts. */
export interface ConnectionAddresses {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
}

/** The addresses of a connected socket. */
export function connectionAddresses(conn: Deno.Conn): ConnectionAddresses {
  const l = conn.localAddr as Deno.NetAddr;
  const r = conn.remoteAddr as Deno.NetAddr;
  return { localIp: l.hostname, localPort: l.port, remoteIp: r.hostname, remotePort: r.port };
}

/**
 * The header an upstream connection starts with.
 *
 * @param data the downstream connection's PROXY protocol facts, if it has them.
 * @param own the upstream connection's addresses (v1 without downstream facts).
 */
export function upstreamProxyProtocolHeader(
  pp: UpstreamProxyProtocol,
  data: ProxyProtocolData | undefined,
  own: ConnectionAddresses,
): Uint8Array {
  if (pp.version === 1) {
    return v1Header(
      data ?? {
        sourceIp: own.localIp,
        sourcePort: own.localPort,
        destinationIp: own.remoteIp,
        destinationPort: own.remotePort,
        tlvs: [],
      },
    );
  }
  if (!data) return v2Header(undefined);
  const tlvs = data.tlvs.filter((t) => pp.passAll || pp.passTypes.includes(t.type));
  return v2Header(data, tlvs);
}
