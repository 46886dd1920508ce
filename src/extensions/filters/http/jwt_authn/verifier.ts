/**
 * JWT requirements (Envoy's jwt_authn Verifier and Authenticator): a requirement compiles to
 * an async check of a request that answers a {@linkcode Status}.
 *
 * - `provider_name` / `provider_and_audiences`: every token found where the provider looks
 *   must be valid for it (issuer, time with its clock skew, audiences, subject, lifetime,
 *   signature); none found is `JwtMissed`.
 * - `requires_any`: the first child that passes; when none does, the most telling failure
 *   (anything over `JwtUnknownIssuer` over `JwtMissed`), unless an `allow_missing` /
 *   `allow_missing_or_failed` child forgives it.
 * - `requires_all`: every child, stopping at the first failure.
 * - `allow_missing_or_failed` / `allow_missing`: tokens of any provider are verified (its
 *   provider found by `iss`), and their payloads still reach the metadata; failures (or only
 *   a missing token) pass.
 *
 * A verified token's provider then forwards its payload (`forward_payload_header`), copies
 * claims to headers (`claim_to_headers`), removes the token unless `forward`, and hands the
 * header and payload to the dynamic metadata (`header_in_metadata`, `payload_in_metadata`).
 *
 * @module
 */
import type {
  JwtRequirement,
} from "../../../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.ts";
import type { HeaderMap } from "../../../../http/header_map.ts";
import { Extractor, type JwtLocation } from "./extractor.ts";
import { verifySignature } from "./jwks.ts";
import { AudienceCheck, checkTime, type Jwt, parseJwt, type Status } from "./jwt.ts";
import type { FetchStats, JwksFetch, Provider } from "./provider.ts";

/** The counters verification bumps. */
export interface VerifyStats extends FetchStats {
  cacheHit(): void;
  cacheMiss(): void;
}

/** One request's verification: its headers and what the verified tokens leave behind. */
export interface VerifyContext {
  readonly headers: HeaderMap;
  readonly nowMs: number;
  readonly fetch: JwksFetch;
  readonly stats: VerifyStats;
  /** `header_in_metadata` / `payload_in_metadata` entries, by name. */
  readonly extracted: Record<string, unknown>;
  /** A provider with `clear_route_cache` added headers. */
  routeCacheCleared: boolean;
}

/** A compiled requirement. */
export type Verifier = (ctx: VerifyContext) => Promise<Status>;

/** How one authenticator checks its tokens. */
interface AuthOptions {
  readonly extractor: Extractor;
  /** The required provider; undefined: each token's provider is found by its `iss`. */
  readonly provider?: Provider;
  /** Audiences of `provider_and_audiences`, over the provider's own. */
  readonly audiences?: AudienceCheck;
  readonly allowFailed: boolean;
  readonly allowMissing: boolean;
  /** Providers in config order, for finding a token's provider by issuer. */
  readonly providers: readonly Provider[];
}

/** Envoy's rule: the first provider of the issuer, else (for a non-empty one) the first without. */
function providerByIssuer(providers: readonly Provider[], iss: string): Provider | undefined {
  return providers.find((p) => p.issuer === iss) ??
    (iss !== "" ? providers.find((p) => p.issuer === "") : undefined);
}

/** A claim as a header value: strings as they are, integers without a fraction, booleans. */
function claimText(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    // As Envoy prints a JSON number: integral non-negative values as integers, else %f.
    return Number.isInteger(v) && v >= 0 ? BigInt(v).toString() : v.toFixed(6);
  }
  return "";
}

/** The value at `path` (keys from the top) of `obj`. */
function claimAt(obj: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = obj;
  for (const key of path) {
    // Own members only: a claim named `constructor` is not the object's.
    if (v === null || typeof v !== "object" || Array.isArray(v) || !Object.hasOwn(v, key)) {
      return undefined;
    }
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** What a provider does with a verified token. */
function useVerifiedJwt(p: Provider, jwt: Jwt, loc: JwtLocation, ctx: VerifyContext): void {
  const h = ctx.headers;
  let added = false;
  if (p.forwardPayloadHeader) {
    let payload = jwt.payloadBase64url;
    if (p.padForwardPayloadHeader) payload += "=".repeat((4 - payload.length % 4) % 4);
    h.add(p.forwardPayloadHeader, payload);
    added = true;
  }
  for (const c of p.claimToHeaders) {
    const text = claimText(claimAt(jwt.payload, c.path));
    if (text === "") continue;
    h.add(c.header, text);
    added = true;
  }
  if (!p.forward) loc.remove(h);
  if (p.headerInMetadata) ctx.extracted[p.headerInMetadata] = jwt.header;
  if (p.payloadInMetadata) {
    let payload = jwt.payload;
    if (p.spaceDelimitedClaims.length > 0) {
      payload = { ...payload };
      for (const claim of p.spaceDelimitedClaims) {
        const v = payload[claim];
        if (typeof v === "string") payload[claim] = v.split(" ").filter((s) => s !== "");
      }
    }
    ctx.extracted[p.payloadInMetadata] = payload;
  }
  if (p.clearRouteCache && added) ctx.routeCacheCleared = true;
}

/** Checks one token; `Ok` once it is verified and used. */
async function verifyToken(o: AuthOptions, loc: JwtLocation, ctx: VerifyContext): Promise<Status> {
  const nowS = Math.floor(ctx.nowMs / 1000);
  let provider = o.provider;
  let jwt: Jwt | undefined;
  if (provider) {
    jwt = provider.cachedJwt(loc.token, nowS);
    if (jwt) ctx.stats.cacheHit();
    else ctx.stats.cacheMiss();
  }
  const cacheHit = jwt !== undefined;
  if (!jwt) {
    const parsed = parseJwt(loc.token);
    if (typeof parsed === "string") return parsed;
    jwt = parsed;
  }
  if (!loc.issuerAllowed(jwt.iss)) return "JwtUnknownIssuer";
  provider ??= providerByIssuer(o.providers, jwt.iss);
  if (!provider) return "JwtUnknownIssuer";
  const time = checkTime(jwt, nowS, provider.clockSkewS);
  if (time !== "Ok") return time;
  if (!(o.audiences ?? provider.audiences).allows(jwt.audiences)) return "JwtAudienceNotAllowed";
  if (!provider.subjectAllowed(jwt.sub)) return "JwtVerificationFail";
  if (!provider.lifetimeAllowed(jwt, ctx.nowMs)) return "JwtExpired";
  if (!cacheHit) {
    const keys = await provider.keys(ctx.fetch, ctx.stats);
    if (typeof keys === "string") return keys;
    const sig = await verifySignature(jwt, keys);
    if (sig !== "Ok") return sig;
  }
  useVerifiedJwt(provider, jwt, loc, ctx);
  if (o.provider && !cacheHit) o.provider.cacheJwt(jwt);
  return "Ok";
}

/**
 * Checks every token the extractor finds. All must pass (a request with a good token and a
 * bad one could otherwise pass the bad one on), unless failures are allowed; then the last
 * token's status decides, as in Envoy.
 */
function authenticator(o: AuthOptions): Verifier {
  return async (ctx) => {
    o.extractor.sanitize(ctx.headers);
    const tokens = o.extractor.extract(ctx.headers);
    let status: Status = "JwtMissed";
    while (tokens.length > 0) {
      status = await verifyToken(o, tokens.pop()!, ctx);
      if (status !== "Ok" && !o.allowFailed && !o.allowMissing) break;
    }
    if (o.allowFailed) return "Ok";
    if (o.allowMissing && status === "JwtMissed") return "Ok";
    return status;
  };
}

/** Envoy's choice among failures of `requires_any`. */
function anyFailure(statuses: readonly Status[]): Status {
  let out: Status = "JwtMissed";
  for (const s of statuses) {
    if ((s !== "JwtMissed" && s !== "JwtUnknownIssuer") || out === "JwtMissed") out = s;
  }
  return out;
}

/**
 * Compiles a requirement against the providers (by name, config order kept).
 * @throws {Error} for a provider name that is not configured (Envoy's message).
 */
export function compileRequirement(
  req: JwtRequirement,
  providers: ReadonlyMap<string, Provider>,
): Verifier {
  const all = [...providers.values()];
  const allExtractor = () => new Extractor(all);
  const byName = (name: string): Provider => {
    const p = providers.get(name);
    if (!p) throw new Error(`Required provider ['${name}'] is not configured.`);
    return p;
  };
  const t = req.requiresType;
  switch (t.case) {
    case "providerName": {
      const p = byName(t.value);
      return authenticator({
        extractor: new Extractor([p]),
        provider: p,
        allowFailed: false,
        allowMissing: false,
        providers: all,
      });
    }
    case "providerAndAudiences": {
      const p = byName(t.value.providerName);
      return authenticator({
        extractor: new Extractor([p]),
        provider: p,
        audiences: t.value.audiences.length > 0 ? new AudienceCheck(t.value.audiences) : undefined,
        allowFailed: false,
        allowMissing: false,
        providers: all,
      });
    }
    case "allowMissingOrFailed":
    case "allowMissing":
      return authenticator({
        extractor: allExtractor(),
        allowFailed: t.case === "allowMissingOrFailed",
        allowMissing: true,
        providers: all,
      });
    case "requiresAny": {
      const reqs = t.value.requirements;
      const missingOrFailed = reqs.some((r) => r.requiresType.case === "allowMissingOrFailed");
      const missing = reqs.some((r) => r.requiresType.case === "allowMissing");
      const children = reqs
        .filter((r) =>
          r.requiresType.case !== "allowMissingOrFailed" && r.requiresType.case !== "allowMissing"
        )
        .map((r) => compileRequirement(r, providers));
      if (children.length === 0) {
        // Only allow_missing(_or_failed): it is the one child.
        return authenticator({
          extractor: allExtractor(),
          allowFailed: missingOrFailed,
          allowMissing: true,
          providers: all,
        });
      }
      return async (ctx) => {
        const statuses: Status[] = [];
        for (const child of children) {
          const s = await child(ctx);
          if (s === "Ok") return s;
          statuses.push(s);
        }
        const final = anyFailure(statuses);
        if (missingOrFailed || (missing && final === "JwtMissed")) return "Ok";
        return final;
      };
    }
    case "requiresAll": {
      const children = t.value.requirements.map((r) => compileRequirement(r, providers));
      return async (ctx) => {
        for (const child of children) {
          const s = await child(ctx);
          if (s !== "Ok") return s;
        }
        return "Ok";
      };
    }
    default:
      return () => Promise.resolve("Ok");
  }
}
