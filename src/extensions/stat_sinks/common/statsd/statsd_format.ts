/**
 * The statsd wire format as Envoy's statsd sinks write it (`source/extensions/stat_sinks/
 * common/statsd`): `<prefix>.<name>:<value>|<type>`, optionally with DogStatsD tags
 * (`|#tag:value,tag:value`), and how metrics are packed into UDP datagrams.
 */
import type { HistogramUnit } from "../../../../stats/histogram.ts";
import { PERCENT_SCALE } from "../../../../stats/histogram.ts";
import { formatG } from "../../../../stats/number_format.ts";
import type { Tag } from "../../../../stats/tag_extractor.ts";

/** Envoy's prefix when a sink's `prefix` is empty. */
export const DEFAULT_PREFIX = "envoy";

/** How tags are written (Envoy's `Statsd::TagFormat`). */
export interface TagFormat {
  /** Written before the first tag. */
  readonly start: string;
  /** Between a tag's name and its value. */
  readonly assign: string;
  /** Between two tags. */
  readonly separator: string;
  /** Where the tags go: after `:<value>|<type>` (DogStatsD) or right after the name. */
  readonly position: "afterValue" | "afterName";
}

/** DogStatsD's tags: `name:1|c|#envoy.cluster_name:a,envoy.response_code_class:2`. */
export const DOG_STATSD_TAG_FORMAT: TagFormat = {
  start: "|#",
  assign: ":",
  separator: ",",
  position: "afterValue",
};

/**
 * One metric line. With `tags` undefined (plain statsd) the name is the full stat name; with
 * tags (DogStatsD) it is the tag-extracted name and the tags follow, as Envoy's `use_tag`.
 */
export function buildMessage(
  prefix: string,
  name: string,
  value: string,
  type: string,
  tags?: readonly Tag[],
  format: TagFormat = DOG_STATSD_TAG_FORMAT,
): string {
  const tagStr = tags === undefined || tags.length === 0
    ? ""
    : format.start + tags.map((t) => t.name + format.assign + t.value).join(format.separator);
  return format.position === "afterValue"
    ? `${prefix}.${name}:${value}${type}${tagStr}`
    : `${prefix}.${name}${tagStr}:${value}${type}`;
}

/**
 * Counter deltas and gauge values as Envoy writes them: unsigned 64-bit integers. Fractions
 * are cut off and a negative gauge wraps around as Envoy's `uint64_t` does.
 */
export function formatInteger(v: number): string {
  const n = BigInt(Math.trunc(v));
  return (n < 0n ? BigInt.asUintN(64, n) : n).toString();
}

/**
 * A recorded histogram value as Envoy's `onHistogramComplete` sends it: statsd timers
 * (`|ms`, the integral value, whatever the unit), except `Percent` histograms, whose fraction
 * goes out as a histogram value (`|h`) computed in 32-bit floats and printed with six
 * significant digits, as Envoy's `float` through `absl::StrCat` is.
 */
export function histogramValue(unit: HistogramUnit, raw: number): { value: string; type: string } {
  if (unit === "Percent") {
    const scaled = Math.fround(Math.fround(raw) / PERCENT_SCALE);
    return { value: formatG(scaled, 6), type: "|h" };
  }
  return { value: formatInteger(raw), type: "|ms" };
}

/**
 * Packs flushed metrics into datagrams as Envoy's UDP sink does with a buffer of `bufferSize`
 * bytes (`max_bytes_per_datagram`; 0, the statsd sink's setting, sends one metric per
 * datagram): metrics are joined with newlines until the next would not fit; a metric that
 * alone is at least `bufferSize` long goes out at once in its own datagram, ahead of what is
 * buffered.
 */
export class DatagramPacker {
  readonly #bufferSize: number;
  readonly #send: (datagram: string) => void;
  #buffer = "";
  #bufferBytes = 0;

  constructor(bufferSize: number, send: (datagram: string) => void) {
    this.#bufferSize = bufferSize;
    this.#send = send;
  }

  /** Adds one metric, sending whatever it does not fit with. */
  add(metric: string): void {
    const bytes = utf8Length(metric);
    if (bytes >= this.#bufferSize) {
      this.#send(metric);
      return;
    }
    if (this.#bufferBytes + bytes + 1 > this.#bufferSize) {
      this.flush();
    } else if (this.#bufferBytes > 0) {
      this.#buffer += "\n";
      this.#bufferBytes++;
    }
    this.#buffer += metric;
    this.#bufferBytes += bytes;
  }

  /** Sends what is buffered. */
  flush(): void {
    if (this.#bufferBytes === 0) return;
    this.#send(this.#buffer);
    this.#buffer = "";
    this.#bufferBytes = 0;
  }
}

/** The UTF-8 size of `s` (datagram limits are in bytes; stat names are almost always ASCII). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      // A surrogate pair: two UTF-16 units, four bytes.
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}
