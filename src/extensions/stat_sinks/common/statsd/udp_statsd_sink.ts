/**
 * Envoy's `UdpStatsdSink`, behind both `envoy.stat_sinks.statsd` (an `address`) and
 * `envoy.stat_sinks.dog_statsd`. On each flush it sends the increase of every used counter
 * (`|c`) and the value of every used gauge (`|g`); each recorded histogram value goes out at
 * once as a timer from the isolate that recorded it. Text readouts are not sent (Envoy does
 * not either). UDP is fire-and-forget: send errors (nobody listening) are ignored, as Envoy's
 * writer ignores them.
 */
import type dgram from "node:dgram";
import { isIPv6 } from "../../../../common/ip.ts";
import type { StoreSnapshot } from "../../../../stats/snapshot.ts";
import type { SinkHistogram, StatsSink } from "../../../../stats/sink.ts";
import type { TagProducer } from "../../../../stats/tag_extractor.ts";
import {
  buildMessage,
  DatagramPacker,
  DEFAULT_PREFIX,
  formatInteger,
  histogramValue,
} from "./statsd_format.ts";

// node:dgram is loaded when a UDP sink is first created: importing it costs start-up time for
// every config, and most have no statsd sink.
let dgramLoaded: typeof dgram | undefined;
let dgramLoading: Promise<typeof dgram> | undefined;
function loadDgram(): Promise<typeof dgram> {
  return dgramLoading ??= import("node:dgram").then((m) => (dgramLoaded = m.default));
}

/** Sends one datagram; a test double records them instead. */
export interface DatagramWriter {
  write(datagram: string): void;
  close(): Promise<void>;
}

/** Options of a UDP statsd sink. */
export interface UdpStatsdSinkOptions {
  /** Where datagrams go (used when `writer` is not given). */
  address?: { ip: string; port: number };
  /** Send tag-extracted names with DogStatsD tags (the dog_statsd sink) instead of full names. */
  tags?: TagProducer;
  /** The metric name prefix; "" means Envoy's default, `envoy`. */
  prefix?: string;
  /** Flushed metrics per datagram, in bytes (`max_bytes_per_datagram`); 0: one per datagram. */
  bufferSize?: number;
  /** Replaces the UDP socket (tests). */
  writer?: DatagramWriter;
}

/** A UDP statsd or DogStatsD sink. */
export class UdpStatsdSink implements StatsSink {
  readonly prefix: string;
  readonly #tags: TagProducer | undefined;
  readonly #bufferSize: number;
  readonly #writer: DatagramWriter;

  constructor(opts: UdpStatsdSinkOptions) {
    this.prefix = opts.prefix || DEFAULT_PREFIX;
    this.#tags = opts.tags;
    this.#bufferSize = opts.bufferSize ?? 0;
    if (opts.writer) this.#writer = opts.writer;
    else if (opts.address) this.#writer = new UdpWriter(opts.address.ip, opts.address.port);
    else throw new Error("UdpStatsdSink: an address or a writer is required");
  }

  flush(snapshot: StoreSnapshot): void {
    const packer = new DatagramPacker(this.#bufferSize, (d) => this.#writer.write(d));
    for (const c of snapshot.counters) {
      if (c.used) packer.add(this.#message(c.name, formatInteger(c.delta), "|c"));
    }
    for (const g of snapshot.gauges) {
      if (g.used) packer.add(this.#message(g.name, formatInteger(g.value), "|g"));
    }
    packer.flush();
  }

  onHistogramComplete(histogram: SinkHistogram, value: number): void {
    const v = histogramValue(histogram.unit, value);
    this.#writer.write(this.#message(histogram.name, v.value, v.type));
  }

  close(): Promise<void> {
    return this.#writer.close();
  }

  #message(name: string, value: string, type: string): string {
    if (this.#tags === undefined) return buildMessage(this.prefix, name, value, type);
    const tagged = this.#tags.produceTags(name);
    return buildMessage(this.prefix, tagged.tagExtractedName, value, type, tagged.tags);
  }
}

/**
 * An unconnected UDP socket, opened on first use (an isolate whose histograms never record
 * opens none) and kept out of the event loop's liveness so it never holds shutdown up.
 */
class UdpWriter implements DatagramWriter {
  readonly #ip: string;
  readonly #port: number;
  #socket: dgram.Socket | undefined;
  /** Datagrams handed to the socket whose send has not completed. */
  #pending = 0;
  #drained: (() => void) | undefined;
  readonly #sent = () => {
    if (--this.#pending === 0) this.#drained?.();
  };

  /** Datagrams written before node:dgram was loaded, sent once it is. */
  #early: string[] = [];
  readonly #loaded: Promise<unknown>;

  constructor(ip: string, port: number) {
    this.#ip = ip;
    this.#port = port;
    this.#loaded = loadDgram().then(() => {
      const early = this.#early;
      this.#early = [];
      for (const d of early) this.write(d);
    });
  }

  write(datagram: string): void {
    if (dgramLoaded === undefined) {
      this.#early.push(datagram);
      return;
    }
    let s = this.#socket;
    if (s === undefined) {
      s = this.#socket = dgramLoaded.createSocket(isIPv6(this.#ip) ? "udp6" : "udp4");
      s.on("error", () => {});
      s.unref();
    }
    this.#pending++;
    s.send(datagram, this.#port, this.#ip, this.#sent);
  }

  /** Closes the socket once what was written has been sent (the last flush at shutdown). */
  async close(): Promise<void> {
    await this.#loaded;
    const s = this.#socket;
    this.#socket = undefined;
    if (s === undefined) return;
    if (this.#pending > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
      });
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

/** How long closing waits for datagrams still being sent. */
const CLOSE_TIMEOUT_MS = 1000;
