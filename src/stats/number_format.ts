/**
 * Number formatting as Envoy's admin output prints numbers. Envoy formats with {fmt} and
 * printf-style specifiers, whose output differs from JavaScript's `String(x)` (exponent form,
 * `nan`, trailing zeros), and dashboards and scrapers compare these strings, so the exact
 * C rules are reproduced here.
 */

/**
 * C's `%.<precision>g`: `precision` significant digits, fixed notation unless the exponent is
 * below -4 or at least `precision`, trailing zeros removed, and a two-digit minimum exponent
 * (`3.6e+06`). Envoy prints bucket bounds (`B3.6e+06`), Prometheus `le` and `_sum` values
 * (`%.32g`) and detailed buckets (`%.6g`) this way.
 */
export function formatG(x: number, precision = 6): string {
  // Integers that fit the precision print whole: the common case (counts, sums of whole ms),
  // and far cheaper than the general path below.
  if (Number.isSafeInteger(x) && !Object.is(x, -0)) {
    const text = String(x);
    if (text.length - (x < 0 ? 1 : 0) <= (precision === 0 ? 1 : precision)) return text;
  }
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const p = precision === 0 ? 1 : precision;
  // toExponential rounds to p significant digits exactly as printf does, and says which
  // exponent the rounded value has, which decides the notation.
  const [mantissa, expText] = x.toExponential(p - 1).split("e");
  const exp = Number(expText);
  if (exp < -4 || exp >= p) {
    return `${stripZeros(mantissa)}e${exponent(exp)}`;
  }
  // toFixed switches to exponent form from 1e21; such doubles are integers, printed whole.
  if (Math.abs(x) >= 1e21) return BigInt(x).toString();
  return stripZeros(x.toFixed(p - 1 - exp));
}

/**
 * {fmt}'s `{}` for a double: the shortest digits that read back as the same value, fixed
 * notation unless the exponent is below -4 or at least 16. Envoy prints histogram quantiles
 * this way (`P50(1.0435787,nan)`).
 */
export function formatShortest(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  // toExponential() without an argument gives the shortest round-trip digits.
  const [mantissa, expText] = x.toExponential().split("e");
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) return `${mantissa}e${exponent(exp)}`;
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  let out: string;
  if (exp < 0) {
    out = `0.${"0".repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    out = digits + "0".repeat(exp + 1 - digits.length);
  } else {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return negative ? `-${out}` : out;
}

function stripZeros(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

function exponent(exp: number): string {
  const abs = Math.abs(exp);
  return `${exp < 0 ? "-" : "+"}${abs < 10 ? "0" : ""}${abs}`;
}
