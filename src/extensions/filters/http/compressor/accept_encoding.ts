/**
 * The compressor filter's choice of content encoding: the request's `accept-encoding` (with
 * q-values) against the compressors of the filter chain that may compress this response. One
 * decision is made per stream and shared by every compressor filter in the chain, as Envoy's
 * filter state does, so that two compressors never both compress.
 *
 * @module
 */

/** Why the decision came out as it did: each compressor filter counts it (`header_*`). */
export type HeaderStat = "not_valid" | "identity" | "wildcard" | "valid_compressor";

/** The chosen encoding (`identity` for none) and its stat. */
export interface EncodingDecision {
  encoding: string;
  stat: HeaderStat;
}

/** A compressor of the chain as the decision sees it. */
export interface ChainCompressor {
  contentEncoding: string;
  /** Prefer this one when q-values tie (`choose_first`). */
  chooseFirst: boolean;
}

const IDENTITY = "identity";
const WILDCARD = "*";
/** What absl::SimpleAtof accepts for a q-value (anything else drops the token). */
const Q_VALUE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * `accept-encoding` as (coding, q) pairs in header order; a token whose `q` parameter is not
 * a number is skipped, a token without one has q = 1.
 */
export function parseAcceptEncoding(header: string): [string, number][] {
  const out: [string, number][] = [];
  for (const token of header.split(",")) {
    if (token === "") continue;
    const semi = token.indexOf(";");
    const coding = (semi < 0 ? token : token.slice(0, semi)).trim();
    let q = 1;
    if (semi >= 0) {
      const params = token.slice(semi + 1);
      const eq = params.indexOf("=");
      if (eq >= 0 && params.slice(0, eq).trim().toLowerCase() === "q") {
        const v = params.slice(eq + 1).trim();
        if (!Q_VALUE.test(v)) continue;
        q = Number(v);
      }
    }
    out.push([coding, q]);
  }
  return out;
}

/**
 * Envoy's choice: among the codings the client accepts (q > 0) that a chain compressor
 * provides (or `identity`, or `*`), the highest q wins, the first listed on a tie unless a
 * `choose_first` compressor ties; `*` picks the first registered compressor (a `choose_first`
 * one before the others). `compressors` are the chain's compressors allowed for this response,
 * in chain order.
 */
export function chooseEncoding(
  acceptEncoding: string,
  compressors: readonly ChainCompressor[],
): EncodingDecision {
  // Registration order per encoding (a second compressor of one encoding is ignored);
  // choose_first compressors go ahead, the last one first.
  const allowed: string[] = [];
  const preferred = new Set<string>();
  for (const c of compressors) {
    if (allowed.includes(c.contentEncoding)) continue;
    if (c.chooseFirst) {
      allowed.unshift(c.contentEncoding);
      preferred.add(c.contentEncoding);
    } else {
      allowed.push(c.contentEncoding);
    }
  }
  const pairs = parseAcceptEncoding(acceptEncoding);
  for (const [coding, q] of pairs) {
    // q=0 rules the coding out even when `*` is accepted.
    if (q === 0) {
      const i = allowed.indexOf(coding);
      if (i >= 0) allowed.splice(i, 1);
    }
  }
  if (pairs.length === 0 || allowed.length === 0) return { encoding: IDENTITY, stat: "not_valid" };
  let choice = IDENTITY;
  let best = 0;
  for (const [coding, q] of pairs) {
    const usable = coding === IDENTITY || coding === WILDCARD || allowed.includes(coding);
    if (!usable) continue;
    if (q > best || (q === best && q > 0 && preferred.has(coding) && !preferred.has(choice))) {
      choice = coding;
      best = q;
    }
  }
  if (best === 0) return { encoding: IDENTITY, stat: "not_valid" };
  if (choice === IDENTITY) return { encoding: IDENTITY, stat: "identity" };
  if (choice === WILDCARD) return { encoding: allowed[0], stat: "wildcard" };
  return { encoding: choice, stat: "valid_compressor" };
}
