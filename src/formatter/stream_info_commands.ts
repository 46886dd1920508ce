/**
 * Command operators that read StreamInfo: times, byte counts, response code and flags, names,
 * ids and reasons. Text and typed forms follow Envoy: counts, codes and ids are numbers in
 * typed JSON; everything else is a string. Durations, addresses, TLS facts, headers and
 * metadata have their own modules.
 */
import { formatResponseFlags, type StreamInfo } from "../stream_info/stream_info.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import {
  type FormatContext,
  numberProvider,
  type Provider,
  stringProvider,
  truncated,
} from "./provider.ts";
import { compileTimeFormat } from "./time_format.ts";

/** An operator without arguments. */
function plain(provider: Provider): CommandSpec {
  return { params: "none", create: () => provider };
}

function fromInfo(get: (si: StreamInfo) => string | undefined): CommandSpec {
  return plain(stringProvider((ctx) => get(ctx.streamInfo)));
}

function countOf(get: (si: StreamInfo) => number): CommandSpec {
  return plain(numberProvider((ctx) => get(ctx.streamInfo)));
}

/** A time operator: `NAME(format)`, in UTC or local time; always a string in typed JSON. */
function timeOperator(time: (ctx: FormatContext) => number, local: boolean): CommandSpec {
  return {
    params: "optional",
    create(arg) {
      const format = compileTimeFormat(arg, { local });
      return stringProvider((ctx) => format(time(ctx)));
    },
  };
}

const startTime = (ctx: FormatContext) => ctx.streamInfo.startTime;
const emitTime = () => Date.now();

/** The machine's host name, read once as Envoy does; undefined when it cannot be read. */
function hostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

/** Spaces (and other blanks) become `_`, so the value stays one field of a text log. */
function noBlanks(s: string | undefined): string | undefined {
  return s === undefined ? undefined : s.replace(/[ \t\n\v\f\r]/g, "_");
}

/** Envoy's SNI sanitizing: characters a host name cannot have become `_`. */
function sanitizeHostname(s: string): string {
  return s.replace(/[^A-Za-z0-9.\-_:[\]]/g, "_");
}

const requestedServerName: CommandSpec = {
  params: "optional",
  create(arg) {
    const [mode = "", source = "", ...rest] = arg === "" ? [] : arg.split(":");
    const m = mode || "SNI_ONLY";
    const s = source || "ORIG_OR_HOST";
    if (
      rest.length > 0 || !["SNI_ONLY", "SNI_FIRST", "HOST_FIRST"].includes(m) ||
      !["ORIG", "HOST", "ORIG_OR_HOST"].includes(s)
    ) {
      throw new Error(
        `Invalid REQUESTED_SERVER_NAME option: '${arg}', expected ` +
          "SNI_ONLY|SNI_FIRST|HOST_FIRST[:ORIG|HOST|ORIG_OR_HOST]",
      );
    }
    const sni = (ctx: FormatContext) => {
      const name = ctx.streamInfo.requestedServerName;
      return name ? sanitizeHostname(name) : undefined;
    };
    const host = (ctx: FormatContext) => {
      const h = ctx.requestHeaders ?? ctx.streamInfo.requestHeaders;
      if (!h) return undefined;
      const orig = h.get("x-envoy-original-host");
      if (s === "ORIG") return orig;
      const authority = h.get(":authority");
      return s === "HOST" ? authority : orig ?? authority;
    };
    if (m === "SNI_ONLY") return stringProvider(sni);
    if (m === "SNI_FIRST") return stringProvider((ctx) => sni(ctx) ?? host(ctx));
    return stringProvider((ctx) => host(ctx) ?? sni(ctx));
  },
};

/** StreamInfo operators by name. */
export const STREAM_INFO_COMMANDS: CommandTable = {
  START_TIME: timeOperator(startTime, false),
  START_TIME_LOCAL: timeOperator(startTime, true),
  EMIT_TIME: timeOperator(emitTime, false),
  EMIT_TIME_LOCAL: timeOperator(emitTime, true),
  PROTOCOL: fromInfo((si) => si.protocol),
  UPSTREAM_PROTOCOL: fromInfo((si) => si.upstreamProtocol),
  // A stream that never got a response logs 0, as in Envoy (TCP logs too).
  RESPONSE_CODE: countOf((si) => si.responseCode ?? 0),
  RESPONSE_CODE_DETAILS: {
    params: "optional",
    create(arg) {
      if (arg === "ALLOW_WHITESPACES") {
        return stringProvider((ctx) => ctx.streamInfo.responseCodeDetails);
      }
      return stringProvider((ctx) => noBlanks(ctx.streamInfo.responseCodeDetails));
    },
  },
  CONNECTION_TERMINATION_DETAILS: fromInfo((si) => si.connectionTerminationDetails),
  RESPONSE_FLAGS: fromInfo((si) => formatResponseFlags(si.responseFlags)),
  RESPONSE_FLAGS_LONG: fromInfo((si) => formatResponseFlags(si.responseFlags, true)),
  // Envoy always has a (possibly empty) string here.
  CUSTOM_FLAGS: fromInfo((si) => si.customFlags ?? ""),
  BYTES_RECEIVED: countOf((si) => si.bytesReceived),
  BYTES_SENT: countOf((si) => si.bytesSent),
  // Retransmissions are counted by QUIC only; TCP-based protocols log 0, as in Envoy.
  BYTES_RETRANSMITTED: countOf(() => 0),
  PACKETS_RETRANSMITTED: countOf(() => 0),
  UPSTREAM_WIRE_BYTES_SENT: countOf((si) => si.upstreamWireBytesSent),
  UPSTREAM_WIRE_BYTES_RECEIVED: countOf((si) => si.upstreamWireBytesReceived),
  UPSTREAM_HEADER_BYTES_SENT: countOf((si) => si.upstreamHeaderBytesSent),
  UPSTREAM_HEADER_BYTES_RECEIVED: countOf((si) => si.upstreamHeaderBytesReceived),
  // HTTP/1 headers are not compressed: the decompressed size is the wire size.
  UPSTREAM_DECOMPRESSED_HEADER_BYTES_SENT: countOf((si) => si.upstreamHeaderBytesSent),
  UPSTREAM_DECOMPRESSED_HEADER_BYTES_RECEIVED: countOf((si) => si.upstreamHeaderBytesReceived),
  DOWNSTREAM_WIRE_BYTES_SENT: countOf((si) => si.downstreamWireBytesSent),
  DOWNSTREAM_WIRE_BYTES_RECEIVED: countOf((si) => si.downstreamWireBytesReceived),
  DOWNSTREAM_HEADER_BYTES_SENT: countOf((si) => si.responseHeadersBytes),
  DOWNSTREAM_HEADER_BYTES_RECEIVED: countOf((si) => si.requestHeadersBytes),
  DOWNSTREAM_DECOMPRESSED_HEADER_BYTES_SENT: countOf((si) => si.responseHeadersBytes),
  DOWNSTREAM_DECOMPRESSED_HEADER_BYTES_RECEIVED: countOf((si) => si.requestHeadersBytes),
  // alt_stat_name when the cluster has one (Envoy's observability name); _RAW is the name.
  UPSTREAM_CLUSTER: fromInfo((si) =>
    si.upstreamClusterDescription?.statName || si.upstreamCluster || undefined
  ),
  UPSTREAM_CLUSTER_RAW: fromInfo((si) => si.upstreamCluster || undefined),
  UPSTREAM_TRANSPORT_FAILURE_REASON: fromInfo((si) =>
    si.upstreamTransportFailureReason?.replaceAll(" ", "_") || undefined
  ),
  DOWNSTREAM_TRANSPORT_FAILURE_REASON: fromInfo((si) =>
    si.downstreamTransportFailureReason?.replaceAll(" ", "_") || undefined
  ),
  DOWNSTREAM_LOCAL_CLOSE_REASON: fromInfo((si) => si.downstreamLocalCloseReason),
  DOWNSTREAM_DETECTED_CLOSE_TYPE: fromInfo((si) => si.downstreamDetectedCloseType),
  UPSTREAM_LOCAL_CLOSE_REASON: fromInfo((si) => si.upstreamLocalCloseReason),
  UPSTREAM_DETECTED_CLOSE_TYPE: fromInfo((si) => si.upstreamDetectedCloseType),
  REQUESTED_SERVER_NAME: requestedServerName,
  ROUTE_NAME: fromInfo((si) => si.route?.route.name || undefined),
  VIRTUAL_CLUSTER_NAME: fromInfo((si) => si.virtualClusterName || undefined),
  FILTER_CHAIN_NAME: fromInfo((si) => si.filterChain?.name || undefined),
  HOSTNAME: {
    params: "none",
    create() {
      const name = hostname();
      return stringProvider(() => name);
    },
  },
  CONNECTION_ID: countOf((si) => si.connectionId),
  UPSTREAM_CONNECTION_ID: countOf((si) => si.upstreamConnectionId ?? 0),
  UNIQUE_ID: plain(stringProvider(() => crypto.randomUUID())),
  STREAM_ID: fromInfo((si) => si.streamId || undefined),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: countOf((si) => si.attemptCount ?? 0),
  ENVIRONMENT: {
    params: "required",
    length: true,
    create(name, maxLength) {
      // Read once at config load, as Envoy does; an unset variable is the text "-" (a
      // string in typed JSON too).
      let value: string | undefined;
      try {
        value = Deno.env.get(name);
      } catch {
        value = undefined;
      }
      if (value === undefined) return stringProvider(() => "-");
      return truncated(stringProvider(() => value), maxLength);
    },
  },
};
