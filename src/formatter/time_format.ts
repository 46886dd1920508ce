/**
 * Time formats of `%START_TIME(...)%` and the other time operators: strftime specifiers (with
 * glibc's `-`, `_`, `0` and `^` flags), Envoy's own `%s` (epoch seconds) and `%f` / `%1f`..`%9f`
 * (fractional seconds), and absl's `%E<n>S`, `%E*S`, `%Ez` and `%E4Y`, in UTC or in the
 * process's local time zone (`%START_TIME_LOCAL%`). The format is compiled once; at run time
 * everything that only changes once a second is cached, so a busy access log formats a
 * timestamp with a few string concatenations.
 */
import { DAYS, LONG_DAYS, LONG_MONTHS, MONTHS } from "../common/calendar.ts";

/** Formats a wall-clock time given in ms since the epoch. */
export type TimeFormatter = (epochMs: number) => string;

/** The calendar fields of one second, in UTC or local time. */
interface Parts {
  year: number;
  /** 0-11 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday */
  weekday: number;
  /** 1-366 */
  yearDay: number;
  /** Minutes east of UTC. */
  offset: number;
  zoneName: string;
  epochSecond: number;
}

/** The local zone's short name (`JST`, `GMT+9`), as the platform names it. */
let zoneNames: Intl.DateTimeFormat | undefined;
function localZoneName(d: Date): string {
  zoneNames ??= new Intl.DateTimeFormat("en-US", { timeZoneName: "short" });
  return zoneNames.formatToParts(d).find((p) => p.type === "timeZoneName")?.value ?? "";
}

function partsOf(epochSecond: number, local: boolean): Parts {
  const d = new Date(epochSecond * 1000);
  const year = local ? d.getFullYear() : d.getUTCFullYear();
  const month = local ? d.getMonth() : d.getUTCMonth();
  const day = local ? d.getDate() : d.getUTCDate();
  return {
    year,
    month,
    day,
    hour: local ? d.getHours() : d.getUTCHours(),
    minute: local ? d.getMinutes() : d.getUTCMinutes(),
    second: local ? d.getSeconds() : d.getUTCSeconds(),
    weekday: local ? d.getDay() : d.getUTCDay(),
    yearDay: Math.round((Date.UTC(year, month, day) - Date.UTC(year, 0, 1)) / 86_400_000) + 1,
    offset: local ? -d.getTimezoneOffset() : 0,
    zoneName: local ? localZoneName(d) : "UTC",
    epochSecond,
  };
}

/** ISO 8601 week-based year and week number (`%G`, `%V`). */
function isoWeek(p: Parts): { year: number; week: number } {
  const isoWeekday = p.weekday || 7;
  // The Thursday of this week decides the year the week belongs to.
  const thursday = new Date(Date.UTC(p.year, p.month, p.day + 4 - isoWeekday));
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7) + 1;
  return { year, week };
}

/** A numeric field: its value and the width it is padded to. */
interface NumberField {
  kind: "number";
  width: number;
  /** The padding character when no flag says otherwise. */
  pad: "0" | " ";
  get(p: Parts): number;
}

interface TextField {
  kind: "text";
  get(p: Parts): string;
}

type Field = NumberField | TextField;

const num = (width: number, get: (p: Parts) => number, pad: "0" | " " = "0"): NumberField => ({
  kind: "number",
  width,
  pad,
  get,
});
const text = (get: (p: Parts) => string): TextField => ({ kind: "text", get });

function zoneOffset(p: Parts, colon: boolean): string {
  const sign = p.offset < 0 ? "-" : "+";
  const abs = Math.abs(p.offset);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return sign + hh + (colon ? ":" : "") + mm;
}

const hour12 = (p: Parts) => p.hour % 12 || 12;

const FIELDS: Record<string, Field> = {
  a: text((p) => DAYS[p.weekday]),
  A: text((p) => LONG_DAYS[p.weekday]),
  b: text((p) => MONTHS[p.month]),
  h: text((p) => MONTHS[p.month]),
  B: text((p) => LONG_MONTHS[p.month]),
  C: num(2, (p) => Math.floor(p.year / 100)),
  d: num(2, (p) => p.day),
  e: num(2, (p) => p.day, " "),
  g: num(2, (p) => isoWeek(p).year % 100),
  G: num(0, (p) => isoWeek(p).year),
  H: num(2, (p) => p.hour),
  I: num(2, hour12),
  j: num(3, (p) => p.yearDay),
  k: num(2, (p) => p.hour, " "),
  l: num(2, hour12, " "),
  m: num(2, (p) => p.month + 1),
  M: num(2, (p) => p.minute),
  p: text((p) => (p.hour < 12 ? "AM" : "PM")),
  P: text((p) => (p.hour < 12 ? "am" : "pm")),
  s: num(0, (p) => p.epochSecond),
  S: num(2, (p) => p.second),
  u: num(0, (p) => p.weekday || 7),
  U: num(2, (p) => Math.floor((p.yearDay - 1 - p.weekday + 7) / 7)),
  V: num(2, (p) => isoWeek(p).week),
  w: num(0, (p) => p.weekday),
  W: num(2, (p) => Math.floor((p.yearDay - 1 - ((p.weekday + 6) % 7) + 7) / 7)),
  y: num(2, (p) => p.year % 100),
  Y: num(0, (p) => p.year),
  z: text((p) => zoneOffset(p, false)),
  Z: text((p) => p.zoneName),
  t: text(() => "\t"),
  "%": text(() => "%"),
};

/** Specifiers that are shorthands for others. */
const COMPOUND: Record<string, string> = {
  c: "%a %b %e %H:%M:%S %Y",
  D: "%m/%d/%y",
  F: "%Y-%m-%d",
  r: "%I:%M:%S %p",
  R: "%H:%M",
  T: "%H:%M:%S",
  x: "%m/%d/%y",
  X: "%H:%M:%S",
};

/** A glibc flag: `-` no padding, `_` spaces, `0` zeros, `^` upper case. */
type Flag = "-" | "_" | "0" | "^" | "#";

function render(field: Field, flag: Flag | undefined, width: number | undefined, p: Parts): string {
  if (field.kind === "text") {
    const s = field.get(p);
    const cased = flag === "^" || flag === "#" ? s.toUpperCase() : s;
    return width !== undefined ? cased.padStart(width, " ") : cased;
  }
  const n = field.get(p);
  const digits = String(Math.abs(n));
  const sign = n < 0 ? "-" : "";
  if (flag === "-") return sign + digits;
  const pad = flag === "_" ? " " : flag === "0" ? "0" : field.pad;
  return sign + digits.padStart((width ?? field.width) - sign.length, pad);
}

/** A piece of a compiled format that changes at most once a second. */
type SecondPiece = string | ((p: Parts) => string);
/** A piece that depends on the milliseconds within the second. */
type FractionPiece = (ms: number) => string;

function pad3(n: number): string {
  return n < 10 ? "00" + n : n < 100 ? "0" + n : String(n);
}

/** Fractional seconds as `digits` digits; the clock has ms resolution, the rest is zeros. */
function fraction(digits: number): FractionPiece {
  return (ms) => (pad3(ms) + "000000000000").slice(0, digits);
}

/** absl's `%E*S` fraction: as many digits as the value needs, with its dot; none for 0. */
const shortestFraction: FractionPiece = (ms) => ms === 0 ? "" : "." + pad3(ms).replace(/0+$/, "");

/** glibc rejects nothing, but Envoy rejects formats that would print a line break. */
const NEWLINE = /%[-_0^#]*[1-9]*(E|O)?n/;

/** Options of a time format. */
export interface TimeFormatOptions {
  /** Use the process's time zone (`TZ`) instead of UTC. */
  local?: boolean;
}

/**
 * Compiles a time format. An empty format means Envoy's default: `2016-04-15T20:17:00.310Z`
 * in UTC, `2016-04-15T22:17:00.310+0200` in local time. Specifiers denvoy does not know are
 * printed as written, as the C library does.
 *
 * @throws {Error} with Envoy's message when the format would print a newline (`%n`).
 */
export function compileTimeFormat(format: string, opts: TimeFormatOptions = {}): TimeFormatter {
  const local = opts.local ?? false;
  if (format === "") {
    return local ? compileTimeFormat("%Y-%m-%dT%H:%M:%E3S%z", opts) : isoTime;
  }
  if (NEWLINE.test(format)) {
    throw new Error("Invalid header configuration. Format string contains newline.");
  }
  // groups[i] is the once-a-second text between fractions[i-1] and fractions[i].
  const groups: SecondPiece[][] = [[]];
  const fractions: FractionPiece[] = [];
  const addFraction = (f: FractionPiece) => {
    fractions.push(f);
    groups.push([]);
  };
  const compile = (fmt: string) => {
    for (let i = 0; i < fmt.length; i++) {
      const c = fmt[i];
      const group = groups[groups.length - 1];
      if (c !== "%" || i + 1 === fmt.length) {
        group.push(c);
        continue;
      }
      // %[flag][width][E|O]conversion
      let j = i + 1;
      const flag = "-_0^#".includes(fmt[j]) ? fmt[j++] as Flag : undefined;
      const widthStart = j;
      while (fmt[j] >= "0" && fmt[j] <= "9") j++;
      const width = j > widthStart ? Number(fmt.slice(widthStart, j)) : undefined;
      const modifier = fmt[j] === "E" || fmt[j] === "O" ? fmt[j++] : undefined;
      // absl's %E<n>S / %E*S / %E4Y carry a number (or *) after the E.
      let eArg: string | undefined;
      if (modifier === "E" && (fmt[j] === "*" || (fmt[j] >= "0" && fmt[j] <= "9"))) {
        const start = j;
        if (fmt[j] === "*") j++;
        else while (fmt[j] >= "0" && fmt[j] <= "9") j++;
        eArg = fmt.slice(start, j);
      }
      const conv = fmt[j];
      if (conv === "f" && modifier === undefined && flag === undefined) {
        // Envoy's %f (9 digits) and %1f..%9f.
        if (width === undefined || (width >= 1 && width <= 9)) {
          addFraction(fraction(width ?? 9));
          i = j;
          continue;
        }
      }
      if (modifier === "E" && eArg !== undefined && conv === "S" && flag === undefined) {
        // Seconds with n fractional digits, or with as many as needed.
        group.push((p: Parts) => render(FIELDS.S, undefined, 2, p));
        if (eArg === "*") addFraction(shortestFraction);
        else if (Number(eArg) > 0) {
          group.push(".");
          addFraction(fraction(Math.min(Number(eArg), 15)));
        }
        i = j;
        continue;
      }
      if (modifier === "E" && eArg === "4" && conv === "Y") {
        group.push((p: Parts) => String(p.year).padStart(4, "0"));
        i = j;
        continue;
      }
      if (modifier === "E" && eArg === undefined && conv === "z") {
        group.push((p: Parts) => zoneOffset(p, true));
        i = j;
        continue;
      }
      if (conv !== undefined && COMPOUND[conv] && flag === undefined && width === undefined) {
        compile(COMPOUND[conv]);
        i = j;
        continue;
      }
      const field = conv !== undefined && Object.hasOwn(FIELDS, conv) ? FIELDS[conv] : undefined;
      if (field) {
        group.push((p: Parts) => render(field, flag, width, p));
        i = j;
        continue;
      }
      group.push(c);
    }
  };
  compile(format);
  return cachedPerSecond(groups, fractions, local);
}

/** Envoy's default START_TIME format, ISO 8601 with milliseconds in UTC. */
function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

function cachedPerSecond(
  groups: SecondPiece[][],
  fractions: FractionPiece[],
  local: boolean,
): TimeFormatter {
  let cachedSecond = NaN;
  let cached: string[] = [];
  return (epochMs) => {
    const second = Math.floor(epochMs / 1000);
    if (second !== cachedSecond) {
      const parts = partsOf(second, local);
      cached = groups.map((g) => {
        let s = "";
        for (const piece of g) s += typeof piece === "string" ? piece : piece(parts);
        return s;
      });
      cachedSecond = second;
    }
    if (fractions.length === 0) return cached[0];
    const ms = Math.floor(epochMs - second * 1000);
    let out = cached[0];
    for (let i = 0; i < fractions.length; i++) out += fractions[i](ms) + cached[i + 1];
    return out;
  };
}
