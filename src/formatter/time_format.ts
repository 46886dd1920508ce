/**
 * `%START_TIME(...)%` formats: strftime specifiers in UTC, plus Envoy's own `%s` (epoch
 * seconds) and `%f` / `%1f`..`%9f` (fractional seconds), and absl's `%E<n>S` (seconds with
 * n fractional digits). The format is compiled once; at run time everything that only
 * changes once a second is cached, so a busy access log formats a timestamp with a few
 * string concatenations.
 */

/** Formats a wall-clock time given in ms since the epoch. */
export type TimeFormatter = (epochMs: number) => string;

/** Envoy's default START_TIME format, ISO 8601 with milliseconds in UTC. */
function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const LONG_MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** A field that changes at most once a second. */
type SecondField = (d: Date) => string;
/** A field that depends on the milliseconds within the second. */
type FractionField = (ms: number) => string;

function pad2(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

function pad3(n: number): string {
  return n < 10 ? "00" + n : n < 100 ? "0" + n : String(n);
}

function space2(n: number): string {
  return n < 10 ? " " + n : String(n);
}

function hour12(d: Date): number {
  return d.getUTCHours() % 12 || 12;
}

function dayOfYear(d: Date): number {
  return Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

/** Fractional seconds as `digits` digits; the clock has ms resolution, the rest is zeros. */
function fraction(digits: number): FractionField {
  return (ms) => (pad3(ms) + "000000").slice(0, digits);
}

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

const FIELDS: Record<string, SecondField> = {
  a: (d) => DAYS[d.getUTCDay()],
  A: (d) => LONG_DAYS[d.getUTCDay()],
  b: (d) => MONTHS[d.getUTCMonth()],
  h: (d) => MONTHS[d.getUTCMonth()],
  B: (d) => LONG_MONTHS[d.getUTCMonth()],
  C: (d) => pad2(Math.floor(d.getUTCFullYear() / 100)),
  d: (d) => pad2(d.getUTCDate()),
  e: (d) => space2(d.getUTCDate()),
  H: (d) => pad2(d.getUTCHours()),
  I: (d) => pad2(hour12(d)),
  j: (d) => pad3(dayOfYear(d)),
  k: (d) => space2(d.getUTCHours()),
  l: (d) => space2(hour12(d)),
  m: (d) => pad2(d.getUTCMonth() + 1),
  M: (d) => pad2(d.getUTCMinutes()),
  p: (d) => (d.getUTCHours() < 12 ? "AM" : "PM"),
  s: (d) => String(d.getTime() / 1000),
  S: (d) => pad2(d.getUTCSeconds()),
  u: (d) => String(d.getUTCDay() || 7),
  w: (d) => String(d.getUTCDay()),
  y: (d) => pad2(d.getUTCFullYear() % 100),
  Y: (d) => String(d.getUTCFullYear()),
  z: () => "+0000",
  Z: () => "UTC",
  n: () => "\n",
  t: () => "\t",
  "%": () => "%",
};

function isDigit1to9(c: string | undefined): boolean {
  return c !== undefined && c >= "1" && c <= "9";
}

/**
 * Compiles a START_TIME format. An empty format means Envoy's default
 * (`2016-04-15T20:17:00.310Z`). Specifiers denvoy does not know are printed as written,
 * as the C library does.
 */
export function compileTimeFormat(format: string): TimeFormatter {
  if (format === "") return isoTime;
  // groups[i] is the once-a-second text between fraction fields fractions[i-1] and fractions[i].
  const groups: (string | SecondField)[][] = [[]];
  const fractions: FractionField[] = [];
  const addFraction = (f: FractionField) => {
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
      const next = fmt[i + 1];
      if (next === "f") {
        addFraction(fraction(9));
        i += 1;
      } else if (isDigit1to9(next) && fmt[i + 2] === "f") {
        addFraction(fraction(Number(next)));
        i += 2;
      } else if (next === "E" && isDigit1to9(fmt[i + 2]) && fmt[i + 3] === "S") {
        group.push(FIELDS.S, ".");
        addFraction(fraction(Number(fmt[i + 2])));
        i += 3;
      } else if (COMPOUND[next]) {
        compile(COMPOUND[next]);
        i += 1;
      } else if (FIELDS[next]) {
        group.push(FIELDS[next]);
        i += 1;
      } else {
        group.push(c);
      }
    }
  };
  compile(format);
  return cachedPerSecond(groups, fractions);
}

function cachedPerSecond(
  groups: (string | SecondField)[][],
  fractions: FractionField[],
): TimeFormatter {
  let cachedSecond = NaN;
  let cached: string[] = [];
  return (epochMs) => {
    const second = Math.floor(epochMs / 1000);
    if (second !== cachedSecond) {
      const d = new Date(second * 1000);
      cached = groups.map((g) => {
        let s = "";
        for (const part of g) s += typeof part === "string" ? part : part(d);
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
