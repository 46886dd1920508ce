/**
 * The TLS inspector listener filter (`envoy.filters.listener.tls_inspector`): detects a TLS
 * ClientHello and records its SNI and ALPN (and, when enabled, its JA3 and JA4 fingerprints) for
 * filter chain matching and access logs; sets the transport protocol to `tls`. Stats under
 * `tls_inspector.` as Envoy names them.
 */
import type { TlsInspector } from "../../../../../proto/gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import type { ExtensionFactory } from "../../../../config/extensions.ts";
import {
  type AcceptedSocket,
  CLOSE,
  CONTINUE,
  type ListenerFilter,
  type ListenerFilterStatus,
  STOP_ITERATION,
} from "../../../../listener/listener_filter.ts";
import type { Counter, Histogram } from "../../../../stats/metrics.ts";
import type { Scope } from "../../../../stats/store.ts";
import { ClientHelloScan, NEED_MORE, NOT_TLS, readClientHello } from "./client_hello.ts";
import { ja3Hash, ja4 as ja4Fingerprint } from "./fingerprint.ts";

const TLS_INSPECTOR = "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";

/** Envoy's largest ClientHello the inspector reads (TLS_MAX_CLIENT_HELLO). */
export const TLS_MAX_CLIENT_HELLO = 64 * 1024;

/** The `tls_inspector.*` stats. */
class TlsInspectorStats {
  readonly clientHelloTooLarge: Counter;
  readonly tlsFound: Counter;
  readonly tlsNotFound: Counter;
  readonly alpnFound: Counter;
  readonly alpnNotFound: Counter;
  readonly sniFound: Counter;
  readonly sniNotFound: Counter;
  readonly bytesProcessed: Histogram;

  constructor(s: Scope) {
    this.clientHelloTooLarge = s.counter("client_hello_too_large");
    this.tlsFound = s.counter("tls_found");
    this.tlsNotFound = s.counter("tls_not_found");
    this.alpnFound = s.counter("alpn_found");
    this.alpnNotFound = s.counter("alpn_not_found");
    this.sniFound = s.counter("sni_found");
    this.sniNotFound = s.counter("sni_not_found");
    this.bytesProcessed = s.histogram("bytes_processed", "Bytes");
  }
}

/** The filter, shared by a listener's sockets. */
export class TlsInspectorFilter implements ListenerFilter {
  readonly maxReadBytes = TLS_MAX_CLIENT_HELLO;

  constructor(
    readonly stats: TlsInspectorStats,
    readonly ja3: boolean,
    readonly initialReadBytes?: number,
    readonly ja4: boolean = false,
  ) {}

  onData(s: AcceptedSocket): ListenerFilterStatus {
    const data = s.data;
    // Progress is kept only for what starts like a handshake record (not on plain TCP).
    const scan = (s.scratch as ClientHelloScan | undefined) ??
      (data[0] === 22 ? (s.scratch = new ClientHelloScan()) : undefined);
    const r = readClientHello(data, scan);
    if (r.state === NEED_MORE) {
      if (data.length < this.maxReadBytes) return STOP_ITERATION;
      this.stats.clientHelloTooLarge.inc();
      return CLOSE;
    }
    this.stats.bytesProcessed.record(data.length);
    if (r.state === NOT_TLS) {
      this.stats.tlsNotFound.inc();
      return CONTINUE;
    }
    const h = r.hello;
    this.stats.tlsFound.inc();
    s.transportProtocol = "tls";
    if (h.alpn.length > 0) {
      this.stats.alpnFound.inc();
      s.applicationProtocols = h.alpn;
    } else this.stats.alpnNotFound.inc();
    if (h.serverName !== undefined) {
      this.stats.sniFound.inc();
      s.serverName = h.serverName;
    } else this.stats.sniNotFound.inc();
    if (this.ja3) s.ja3 = ja3Hash(h);
    if (this.ja4) s.ja4 = ja4Fingerprint(h);
    return CONTINUE;
  }
}

/** Factory for tls_inspector. */
export const tlsInspectorFactory: ExtensionFactory = {
  name: "envoy.filters.listener.tls_inspector",
  aliases: ["envoy.listener.tls_inspector", "tls_inspector"],
  category: "envoy.filters.listener",
  configTypes: [TLS_INSPECTOR],
  fields: {
    implemented: {
      [TLS_INSPECTOR]: [
        "enable_ja3_fingerprinting",
        "enable_ja4_fingerprinting",
        "initial_read_buffer_size",
      ],
    },
  },
  createListenerFilter(config, ctx) {
    const c = config && unpackAny<TlsInspector>(config);
    return new TlsInspectorFilter(
      new TlsInspectorStats(ctx.server.stats.scope("tls_inspector")),
      c?.enableJa3Fingerprinting ?? false,
      c?.initialReadBufferSize,
      c?.enableJa4Fingerprinting ?? false,
    );
  },
};
