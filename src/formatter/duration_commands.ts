/**
 * Duration operators: `%DURATION%`, the request/response milestones (`%REQUEST_DURATION%`,
 * `%RESPONSE_TX_DURATION%`, ...) and `%COMMON_DURATION(START:END:PRECISION)%` between any two
 * milestones. Durations are whole units, truncated as Envoy's duration_cast does, and numbers
 * in typed JSON; a milestone that was never reached leaves the value unset.
 */
import type { StreamInfo, StreamTimings } from "../stream_info/stream_info.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import { numberProvider } from "./provider.ts";

/** A milestone of a stream, in ms since its start (undefined: not reached). */
type TimePoint = (si: StreamInfo) => number | undefined;

function durationOf(get: TimePoint): CommandSpec {
  return {
    params: "none",
    create: () =>
      numberProvider((ctx) => {
        const ms = get(ctx.streamInfo);
        return ms === undefined ? undefined : Math.floor(ms);
      }),
  };
}

const timing = (key: keyof StreamTimings): TimePoint => (si) => si.timings[key];

/** COMMON_DURATION's time point names (case-sensitive, as in Envoy). */
const TIME_POINTS: Record<string, TimePoint> = {
  DS_RX_BEG: () => 0,
  DS_RX_END: timing("lastDownstreamRxByteReceived"),
  US_CX_BEG: timing("upstreamConnectStart"),
  US_CX_END: timing("upstreamConnectComplete"),
  US_HS_END: timing("upstreamHandshakeComplete"),
  US_TX_BEG: timing("firstUpstreamTxByteSent"),
  US_TX_END: timing("lastUpstreamTxByteSent"),
  US_RX_BEG: timing("firstUpstreamRxByteReceived"),
  US_RX_BODY_BEG: timing("firstUpstreamRxBodyByteReceived"),
  US_RX_END: timing("lastUpstreamRxByteReceived"),
  DS_TX_BEG: timing("firstDownstreamTxByteSent"),
  DS_TX_END: timing("lastDownstreamTxByteSent"),
};

/** Nanoseconds per unit of each precision. */
const PRECISIONS: Record<string, number> = { ms: 1_000_000, us: 1_000, ns: 1 };

function timePoint(name: string): TimePoint {
  if (Object.hasOwn(TIME_POINTS, name)) return TIME_POINTS[name];
  // Any other name is a milestone a filter records itself.
  return (si) => si.customTimings?.get(name);
}

const commonDuration: CommandSpec = {
  params: "required",
  create(arg) {
    const parts = arg.split(":");
    if (parts.length < 2 || parts.length > 3) {
      throw new Error(`Invalid common duration configuration: ${arg}.`);
    }
    const precision = parts[2] ?? "ms";
    if (!Object.hasOwn(PRECISIONS, precision)) {
      throw new Error(`Invalid common duration precision: ${precision}.`);
    }
    const unitNs = PRECISIONS[precision];
    const begin = timePoint(parts[0]);
    const end = timePoint(parts[1]);
    return numberProvider((ctx) => {
      const b = begin(ctx.streamInfo);
      const e = end(ctx.streamInfo);
      if (b === undefined || e === undefined || e < b) return undefined;
      // Whole nanoseconds first, so float noise in ms values cannot cost a unit.
      return Math.floor(Math.round((e - b) * 1_000_000) / unitNs);
    });
  },
};

/** Duration operators by name. */
export const DURATION_COMMANDS: CommandTable = {
  // Envoy's currentDuration(): the final duration, or the time so far while still running.
  DURATION: durationOf((si) => si.duration ?? si.elapsed()),
  REQUEST_DURATION: timingDuration("lastDownstreamRxByteReceived"),
  REQUEST_TX_DURATION: timingDuration("lastUpstreamTxByteSent"),
  RESPONSE_DURATION: timingDuration("firstUpstreamRxByteReceived"),
  RESPONSE_TX_DURATION: durationOf((si) => {
    const { lastDownstreamTxByteSent: last, firstUpstreamRxByteReceived: first } = si.timings;
    return last === undefined || first === undefined ? undefined : last - first;
  }),
  DOWNSTREAM_HANDSHAKE_DURATION: timingDuration("downstreamHandshakeComplete"),
  // The last ack from downstream is a QUIC fact; TCP-based protocols never have it.
  ROUNDTRIP_DURATION: durationOf(() => undefined),
  UPSTREAM_CONNECTION_POOL_READY_DURATION: timingDuration("connectionPoolReadyLatency"),
  COMMON_DURATION: commonDuration,
};

function timingDuration(key: keyof StreamTimings): CommandSpec {
  return durationOf(timing(key));
}
