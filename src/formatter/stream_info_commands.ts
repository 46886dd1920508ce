/**
 * Command operators that read StreamInfo: times, durations, byte counts, response code and
 * flags, addresses, names and ids. Text and typed forms follow Envoy: counts, codes, durations
 * and ports are numbers in typed JSON; everything else is a string.
 */
import { formatResponseFlags, type StreamInfo } from "../stream_info/stream_info.ts";
import { addressPort, addressWithoutPort } from "./address.ts";
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

/** Whole milliseconds, truncated as Envoy's duration_cast does. */
function durationOf(get: (si: StreamInfo) => number | undefined): CommandSpec {
  return plain(numberProvider((ctx) => {
    const ms = get(ctx.streamInfo);
    return ms === undefined ? undefined : Math.floor(ms);
  }));
}

/** The three views of an address: as is, without port, and the port alone. */
function addressOperators(
  prefix: string,
  get: (si: StreamInfo) => string | undefined,
): CommandTable {
  const address = (ctx: FormatContext) => get(ctx.streamInfo) || undefined;
  return {
    [`${prefix}_ADDRESS`]: plain(stringProvider(address)),
    [`${prefix}_ADDRESS_WITHOUT_PORT`]: plain(stringProvider((ctx) => {
      const a = address(ctx);
      return a === undefined ? undefined : addressWithoutPort(a);
    })),
    [`${prefix}_PORT`]: plain(numberProvider((ctx) => {
      const a = address(ctx);
      return a === undefined ? undefined : addressPort(a);
    })),
  };
}

function headersBytes(
  headers: (ctx: FormatContext) => { byteSize(): number } | undefined,
  counted: (si: StreamInfo) => number,
): CommandSpec {
  // Envoy's definition is the header map's size; the StreamInfo counter covers logs that
  // are written without the map (TCP, where it stays 0).
  return plain(numberProvider((ctx) => headers(ctx)?.byteSize() ?? counted(ctx.streamInfo)));
}

/** The machine's host name, read once as Envoy does; undefined when it cannot be read. */
function hostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

/** StreamInfo operators by name. */
export const STREAM_INFO_COMMANDS: CommandTable = {
  START_TIME: {
    params: "optional",
    create(arg) {
      const format = compileTimeFormat(arg);
      return stringProvider((ctx) => format(ctx.streamInfo.startTime));
    },
  },
  REQUEST_HEADERS_BYTES: headersBytes(
    (ctx) => ctx.requestHeaders ?? ctx.streamInfo.requestHeaders,
    (si) => si.requestHeadersBytes,
  ),
  RESPONSE_HEADERS_BYTES: headersBytes(
    (ctx) => ctx.responseHeaders ?? ctx.streamInfo.responseHeaders,
    (si) => si.responseHeadersBytes,
  ),
  RESPONSE_TRAILERS_BYTES: headersBytes(
    (ctx) => ctx.responseTrailers ?? ctx.streamInfo.responseTrailers,
    () => 0,
  ),
  PROTOCOL: fromInfo((si) => si.protocol),
  UPSTREAM_PROTOCOL: fromInfo((si) => si.upstreamProtocol),
  // A stream that never got a response logs 0, as in Envoy (TCP logs too).
  RESPONSE_CODE: countOf((si) => si.responseCode ?? 0),
  RESPONSE_CODE_DETAILS: fromInfo((si) => si.responseCodeDetails),
  LOCAL_REPLY_BODY: fromInfo((si) => si.localReplyBody),
  CONNECTION_TERMINATION_DETAILS: fromInfo((si) => si.connectionTerminationDetails),
  RESPONSE_FLAGS: fromInfo((si) => formatResponseFlags(si.responseFlags)),
  RESPONSE_FLAGS_LONG: fromInfo((si) => formatResponseFlags(si.responseFlags, true)),
  BYTES_RECEIVED: countOf((si) => si.bytesReceived),
  BYTES_SENT: countOf((si) => si.bytesSent),
  UPSTREAM_WIRE_BYTES_SENT: countOf((si) => si.upstreamWireBytesSent),
  UPSTREAM_WIRE_BYTES_RECEIVED: countOf((si) => si.upstreamWireBytesReceived),
  // Envoy's currentDuration(): the final duration, or the time so far while still running.
  DURATION: durationOf((si) => si.duration ?? si.elapsed()),
  REQUEST_DURATION: durationOf((si) => si.timings.lastDownstreamRxByteReceived),
  REQUEST_TX_DURATION: durationOf((si) => si.timings.lastUpstreamTxByteSent),
  RESPONSE_DURATION: durationOf((si) => si.timings.firstUpstreamRxByteReceived),
  RESPONSE_TX_DURATION: durationOf((si) => {
    const { lastDownstreamTxByteSent: last, firstUpstreamRxByteReceived: first } = si.timings;
    return last === undefined || first === undefined ? undefined : last - first;
  }),
  UPSTREAM_HOST: fromInfo((si) => si.upstreamHost || undefined),
  UPSTREAM_CLUSTER: fromInfo((si) => si.upstreamCluster || undefined),
  ...addressOperators("UPSTREAM_LOCAL", (si) => si.upstreamLocalAddress),
  ...addressOperators("UPSTREAM_REMOTE", (si) => si.upstreamHost),
  // Envoy replaces spaces so the reason stays one field in space-separated logs.
  UPSTREAM_TRANSPORT_FAILURE_REASON: fromInfo((si) =>
    si.upstreamTransportFailureReason?.replaceAll(" ", "_") || undefined
  ),
  ...addressOperators("DOWNSTREAM_REMOTE", (si) => si.downstreamRemoteAddress),
  ...addressOperators("DOWNSTREAM_DIRECT_REMOTE", (si) => si.downstreamDirectRemoteAddress),
  ...addressOperators("DOWNSTREAM_LOCAL", (si) => si.downstreamLocalAddress),
  REQUESTED_SERVER_NAME: fromInfo((si) => si.requestedServerName || undefined),
  ROUTE_NAME: fromInfo((si) => si.routeName || undefined),
  VIRTUAL_CLUSTER_NAME: fromInfo((si) => si.virtualClusterName || undefined),
  HOSTNAME: {
    params: "none",
    create() {
      const name = hostname();
      return stringProvider(() => name);
    },
  },
  CONNECTION_ID: countOf((si) => si.connectionId),
  UNIQUE_ID: plain(stringProvider(() => crypto.randomUUID())),
  STREAM_ID: fromInfo((si) => si.streamId || undefined),
  // StreamInfo does not count retries yet: a request that reached a host was tried once.
  UPSTREAM_REQUEST_ATTEMPT_COUNT: countOf((si) => (si.upstreamHost ? 1 : 0)),
  ENVIRONMENT: {
    params: "required",
    length: true,
    create(name, maxLength) {
      // Read once at config load, as Envoy does.
      let value: string | undefined;
      try {
        value = Deno.env.get(name);
      } catch {
        value = undefined;
      }
      return truncated(stringProvider(() => value), maxLength);
    },
  },
};
