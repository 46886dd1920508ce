/**
 * Envoy's HTTP/2 flood protections (ProtocolConstraints), with its limits and counters:
 * frames queued for the peer (`max_outbound_frames`, `max_outbound_control_frames`), and
 * inbound frames that cost us work but carry nothing (`max_consecutive_inbound_frames_with_
 * empty_payload`, `max_inbound_priority_frames_per_stream`,
 * `max_inbound_window_update_frames_per_data_frame_sent`).
 *
 * An outbound frame is released once the transport has written its last byte: the connection
 * reports how many bytes the socket took so far, and the frames queued up to there leave
 * the count (Envoy releases each frame's buffer fragment the same way).
 *
 * @module
 */
import { CONTINUATION, DATA, HEADERS, PRIORITY, WINDOW_UPDATE } from "./frame.ts";
import type { Http2CodecStats } from "./codec_stats.ts";

/** The limits, as Http2ProtocolOptions names them. */
export interface ProtocolLimits {
  readonly maxOutboundFrames: number;
  readonly maxOutboundControlFrames: number;
  readonly maxConsecutiveInboundFramesWithEmptyPayload: number;
  readonly maxInboundPriorityFramesPerStream: number;
  readonly maxInboundWindowUpdateFramesPerDataFrameSent: number;
}

/** Counts frames in both directions against the limits of one connection. */
export class ProtocolConstraints {
  readonly #limits: ProtocolLimits;
  readonly #stats: Http2CodecStats;
  #outboundFrames = 0;
  #outboundControlFrames = 0;
  /** Queued frames, oldest first: where each ends in the byte stream, and whether control. */
  #ends = new Float64Array(16);
  #control = new Uint8Array(16);
  #head = 0;
  #outboundDataFrames = 0;
  #consecutiveEmpty = 0;
  #inboundStreams = 0;
  #inboundPriority = 0;
  #inboundWindowUpdate = 0;

  /** Constraints for one connection, counting into `stats`. */
  constructor(limits: ProtocolLimits, stats: Http2CodecStats) {
    this.#limits = limits;
    this.#stats = stats;
  }

  /**
   * Counts an inbound frame. Returns "" or, when a limit is passed, the reason (the
   * connection must then close; the matching `*_flood` counter was bumped).
   */
  trackInbound(type: number, endStream: boolean, empty: boolean, endHeaders: boolean): string {
    switch (type) {
      case HEADERS:
      case CONTINUATION:
        if (endHeaders) this.#inboundStreams++;
        // falls through
      case DATA:
        if (empty && !endStream) this.#consecutiveEmpty++;
        else this.#consecutiveEmpty = 0;
        break;
      case PRIORITY:
        this.#inboundPriority++;
        break;
      case WINDOW_UPDATE:
        this.#inboundWindowUpdate++;
        break;
    }
    const l = this.#limits;
    if (this.#consecutiveEmpty > l.maxConsecutiveInboundFramesWithEmptyPayload) {
      this.#stats.inbound_empty_frames_flood.inc();
      return "http2.inbound_empty_frames_flood";
    }
    if (this.#inboundPriority > l.maxInboundPriorityFramesPerStream * (1 + this.#inboundStreams)) {
      this.#stats.inbound_priority_frames_flood.inc();
      return "Too many PRIORITY frames";
    }
    if (
      this.#inboundWindowUpdate >
        1 + 2 * (this.#inboundStreams +
              l.maxInboundWindowUpdateFramesPerDataFrameSent * this.#outboundDataFrames)
    ) {
      this.#stats.inbound_window_update_frames_flood.inc();
      return "Too many WINDOW_UPDATE frames";
    }
    return "";
  }

  /**
   * Counts a frame about to be written that ends at byte `end` of the connection's output,
   * once `sent` bytes of that output have reached the socket. `control`: PING, SETTINGS or
   * RST_STREAM (the frames a peer can make us send). Returns "" or the reason the connection
   * must close (the `outbound*_flood` counter bumped).
   */
  trackOutbound(sent: number, end: number, control: boolean, data: boolean): string {
    const s = this.#stats;
    this.#release(sent);
    if (this.#outboundFrames === this.#ends.length) this.#grow();
    const at = (this.#head + this.#outboundFrames) & (this.#ends.length - 1);
    this.#ends[at] = end;
    this.#control[at] = control ? 1 : 0;
    this.#outboundFrames++;
    s.outbound_frames_active.inc();
    if (control) {
      this.#outboundControlFrames++;
      s.outbound_control_frames_active.inc();
    }
    if (data) this.#outboundDataFrames++;
    if (this.#outboundFrames > this.#limits.maxOutboundFrames) {
      s.outbound_flood.inc();
      return "Too many frames in the outbound queue.";
    }
    if (this.#outboundControlFrames > this.#limits.maxOutboundControlFrames) {
      s.outbound_control_flood.inc();
      return "Too many control frames in the outbound queue.";
    }
    return "";
  }

  /** Frames whose last byte is within the first `sent` bytes have left. */
  #release(sent: number): void {
    const mask = this.#ends.length - 1;
    let released = 0;
    let releasedControl = 0;
    while (this.#outboundFrames > 0 && this.#ends[this.#head] <= sent) {
      releasedControl += this.#control[this.#head];
      this.#head = (this.#head + 1) & mask;
      this.#outboundFrames--;
      released++;
    }
    if (released > 0) {
      this.#outboundControlFrames -= releasedControl;
      this.#stats.outbound_frames_active.dec(released);
      if (releasedControl > 0) this.#stats.outbound_control_frames_active.dec(releasedControl);
    }
  }

  #grow(): void {
    const n = this.#ends.length;
    const ends = new Float64Array(n * 2);
    const control = new Uint8Array(n * 2);
    for (let i = 0; i < n; i++) {
      ends[i] = this.#ends[(this.#head + i) & (n - 1)];
      control[i] = this.#control[(this.#head + i) & (n - 1)];
    }
    this.#ends = ends;
    this.#control = control;
    this.#head = 0;
  }

  /** The connection is gone: its frames no longer count in the gauges. */
  release(): void {
    this.#release(Infinity);
  }
}
