/**
 * The PROXY protocol listener filter (`envoy.filters.listener.proxy_protocol`): reads a v1 or v2
 * header, restores the addresses it carries (the source becomes the downstream remote address
 * everywhere: filter chain matching, XFF, access logs), emits the TLVs that `rules` name as
 * dynamic metadata, keeps `pass_through_tlvs` in the connection's filter state for upstream
 * PROXY protocol, and drains the header. Stats under `proxy_proto.[<stat_prefix>.]` and the
 * listener's legacy `downstream_cx_proxy_proto_error`, as Envoy names them.
 */
import type { ProxyProtocol } from "../../../../../proto/gen/envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol_pb.ts";
import { PassTlvsMatchType, ProxyProtocolVersion } from "../../../../config/api_enums.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory, ListenerFilterContext } from "../../../../config/extensions.ts";
import {
  type AcceptedSocket,
  CLOSE,
  CONTINUE,
  type ListenerFilter,
  type ListenerFilterStatus,
  STOP_ITERATION,
} from "../../../../listener/listener_filter.ts";
import type { Counter } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import {
  PROXY_PROTOCOL_FILTER_STATE_KEY,
  type ProxyProtocolData,
} from "../../../common/proxy_protocol/proxy_protocol_header.ts";
import {
  MAX_HEADER_LEN,
  type ProxyHeaderOptions,
  readProxyHeader,
} from "./proxy_protocol_parser.ts";

const PROXY_PROTOCOL = "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol";
/** The namespace of TLV metadata when a rule names none. */
export const PROXY_PROTOCOL_NAMESPACE = "envoy.filters.listener.proxy_protocol";

/** found / disallowed / error of one version (`proxy_proto.versions.<v>.*`). */
class VersionStats {
  readonly found: Counter;
  readonly disallowed: Counter;
  readonly error: Counter;
  constructor(s: Scope) {
    this.found = s.counter("found");
    this.disallowed = s.counter("disallowed");
    this.error = s.counter("error");
  }
}

/** The filter's stats. */
class ProxyProtocolStats {
  readonly notFoundAllowed: Counter;
  readonly notFoundDisallowed: Counter;
  readonly v1: VersionStats;
  readonly v2: VersionStats;
  #legacy: Counter | undefined;

  constructor(s: Scope, readonly listenerScope: () => Scope) {
    this.notFoundAllowed = s.counter("not_found_allowed");
    this.notFoundDisallowed = s.counter("not_found_disallowed");
    this.v1 = new VersionStats(s.scope("versions.v1"));
    this.v2 = new VersionStats(s.scope("versions.v2"));
  }

  /** `listener.<name>.downstream_cx_proxy_proto_error`, kept by Envoy for compatibility. */
  get legacyError(): Counter {
    return this.#legacy ??= this.listenerScope().counter("downstream_cx_proxy_proto_error");
  }
}

/** What sanitizing a TLV value for metadata does with bytes that are not UTF-8. */
const utf8 = new TextDecoder("utf-8");

/** The filter, shared by a listener's sockets. */
export class ProxyProtocolFilter implements ListenerFilter {
  readonly maxReadBytes = MAX_HEADER_LEN;
  readonly #options: ProxyHeaderOptions;
  /** TLV type -> [namespace, key] (`rules`). */
  readonly #rules = new Map<number, [string, string]>();
  /** Which TLVs go to filter state: all, some, or none. */
  readonly #passAll: boolean;
  readonly #pass: ReadonlySet<number>;

  constructor(c: ProxyProtocol | undefined, readonly stats: ProxyProtocolStats) {
    const disallowed = c?.disallowedVersions ?? [];
    this.#options = {
      allowV1: !disallowed.includes(ProxyProtocolVersion.V1),
      allowV2: !disallowed.includes(ProxyProtocolVersion.V2),
      allowWithoutProxyProtocol: c?.allowRequestsWithoutProxyProtocol ?? false,
    };
    for (const r of c?.rules ?? []) {
      if (!r.onTlvPresent) continue;
      this.#rules.set(r.tlvType, [
        r.onTlvPresent.metadataNamespace || PROXY_PROTOCOL_NAMESPACE,
        r.onTlvPresent.key,
      ]);
    }
    const p = c?.passThroughTlvs;
    this.#passAll = p?.matchType === PassTlvsMatchType.INCLUDE_ALL;
    this.#pass = new Set(p ? p.tlvType : []);
  }

  onData(s: AcceptedSocket): ListenerFilterStatus {
    const r = readProxyHeader(s.data, this.#options);
    const st = this.stats;
    switch (r.state) {
      case "again":
        return STOP_ITERATION;
      case "not_found":
        st.notFoundAllowed.inc();
        return CONTINUE;
      case "denied":
        (r.version === 1 ? st.v1 : st.v2).found.inc();
        (r.version === 1 ? st.v1 : st.v2).disallowed.inc();
        return CLOSE;
      case "error":
        if (r.version === 0) st.notFoundDisallowed.inc();
        else (r.version === 1 ? st.v1 : st.v2).error.inc();
        st.legacyError.inc();
        return CLOSE;
    }
    (r.version === 1 ? st.v1 : st.v2).found.inc();
    const passed = [];
    for (const t of r.tlvs) {
      const rule = this.#rules.get(t.type);
      if (rule) s.setDynamicMetadata(rule[0], rule[1], sanitize(t.value));
      if (this.#passAll || this.#pass.has(t.type)) {
        passed.push({ type: t.type, value: t.value.slice() });
      }
    }
    const data: ProxyProtocolData = r.local || !r.source || !r.destination
      ? {
        sourceIp: s.remoteIp,
        sourcePort: s.remotePort,
        destinationIp: s.localIp,
        destinationPort: s.localPort,
        tlvs: passed,
      }
      : {
        sourceIp: r.source.ip,
        sourcePort: r.source.port,
        destinationIp: r.destination.ip,
        destinationPort: r.destination.port,
        tlvs: passed,
      };
    (s.filterState ??= new Map()).set(PROXY_PROTOCOL_FILTER_STATE_KEY, data);
    if (!r.local && r.source && r.destination) {
      s.restoreAddresses(r.source.ip, r.source.port, r.destination.ip, r.destination.port);
    }
    s.drain(r.length);
    return CONTINUE;
  }
}

/** A TLV value as a metadata string: invalid UTF-8 replaced with `!`, as Envoy sanitizes it. */
function sanitize(v: Uint8Array): string {
  return utf8.decode(v).replaceAll("\uFFFD", "!");
}

function build(c: ProxyProtocol | undefined, ctx: ListenerFilterContext): ProxyProtocolFilter {
  const prefix = c?.statPrefix ? `proxy_proto.${c.statPrefix}` : "proxy_proto";
  return new ProxyProtocolFilter(
    c,
    new ProxyProtocolStats(ctx.server.stats.scope(prefix), ctx.listenerScope),
  );
}

/** Why Envoy refuses the config, or undefined. */
function problem(c: ProxyProtocol): { message: string; field: string } | undefined {
  const d = c.disallowedVersions;
  if (d.includes(ProxyProtocolVersion.V1) && d.includes(ProxyProtocolVersion.V2)) {
    return {
      message:
        "Proxy Protocol filter is misconfigured: all proxy protocol versions are disallowed.",
      field: "disallowed_versions",
    };
  }
  const bad = c.rules.findIndex((r) => r.tlvType > 255);
  if (bad >= 0) {
    return { message: "tlv_type must be less than 256", field: `rules[${bad}].tlv_type` };
  }
  return undefined;
}

/** Factory for proxy_protocol. */
export const proxyProtocolFactory: ExtensionFactory = {
  name: "envoy.filters.listener.proxy_protocol",
  aliases: ["envoy.listener.proxy_protocol"],
  category: "envoy.filters.listener",
  configTypes: [PROXY_PROTOCOL],
  fields: {
    implemented: {
      [PROXY_PROTOCOL]: [
        "rules",
        "allow_requests_without_proxy_protocol",
        "pass_through_tlvs",
        "disallowed_versions",
        "stat_prefix",
      ],
      [`${PROXY_PROTOCOL}.Rule`]: ["tlv_type", "on_tlv_present"],
      [`${PROXY_PROTOCOL}.KeyValuePair`]: ["metadata_namespace", "key"],
      "envoy.config.core.v3.ProxyProtocolPassThroughTLVs": ["match_type", "tlv_type"],
    },
  },
  validate(config, ctx) {
    const p = problem(config as ProxyProtocol);
    if (p) ctx.report(p.message, p.field);
  },
  createListenerFilter(config, ctx) {
    const c = config && unpackAny<ProxyProtocol>(config);
    const p = c && problem(c);
    if (p) throw new Error(p.message);
    return build(c, ctx);
  },
};
