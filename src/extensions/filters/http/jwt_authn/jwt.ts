/**
 * JSON Web Tokens for the JWT authentication filter: parsing (RFC 7519 compact form), the
 * time and audience checks, and the verification statuses with the messages Envoy answers
 * with (the strings of Envoy's jwt_verify_lib, so clients and logs see the same text).
 *
 * Parsing never throws: a token that is not base64url, not JSON, or has claims of the wrong
 * type yields the status that says so.
 *
 * @module
 */

/** Verification outcomes and their messages (Envoy's `getStatusString`). */
export const STATUS = {
  Ok: "OK",
  JwtMissed: "Jwt is missing",
  JwtNotYetValid: "Jwt not yet valid",
  JwtExpired: "Jwt is expired",
  JwtBadFormat: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
  JwtHeaderParseErrorBadBase64: "Jwt header is an invalid Base64url encoded",
  JwtHeaderParseErrorBadJson: "Jwt header is an invalid JSON",
  JwtHeaderBadAlg: "Jwt header [alg] field is required and must be a string",
  JwtHeaderNotImplementedAlg: "Jwt header [alg] is not supported",
  JwtHeaderBadKid: "Jwt header [kid] field is not a string",
  JwtPayloadParseErrorBadBase64: "Jwt payload is an invalid Base64url encoded",
  JwtPayloadParseErrorBadJson: "Jwt payload is an invalid JSON",
  JwtPayloadParseErrorIssNotString: "Jwt payload [iss] field is not a string",
  JwtPayloadParseErrorSubNotString: "Jwt payload [sub] field is not a string",
  JwtPayloadParseErrorIatNotInteger: "Jwt payload [iat] field is not an integer",
  JwtPayloadParseErrorIatOutOfRange: "Jwt payload [iat] field is not a positive 64 bit integer",
  JwtPayloadParseErrorNbfNotInteger: "Jwt payload [nbf] field is not an integer",
  JwtPayloadParseErrorNbfOutOfRange: "Jwt payload [nbf] field is not a positive 64 bit integer",
  JwtPayloadParseErrorExpNotInteger: "Jwt payload [exp] field is not an integer",
  JwtPayloadParseErrorExpOutOfRange: "Jwt payload [exp] field is not a positive 64 bit integer",
  JwtPayloadParseErrorJtiNotString: "Jwt payload [jti] field is not a string",
  JwtPayloadParseErrorAudNotString: "Jwt payload [aud] field is not a string or string list",
  JwtSignatureParseErrorBadBase64: "Jwt signature is an invalid Base64url encoded",
  JwtEd25519SignatureWrongLength: "Jwt ED25519 signature is wrong length",
  JwtUnknownIssuer: "Jwt issuer is not configured",
  JwtAudienceNotAllowed: "Audiences in Jwt are not allowed",
  JwtVerificationFail: "Jwt verification fails",
  JwksParseError: "Jwks is an invalid JSON",
  JwksNoKeys: "Jwks does not have [keys] field",
  JwksBadKeys: "[keys] in Jwks is not an array",
  JwksNoValidKeys: "Jwks doesn't have any valid public key",
  JwksKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  JwksFetchFail: "Jwks remote fetch is failed",
} as const;

/** A verification outcome. */
export type Status = keyof typeof STATUS;

/** The algorithms tokens may be signed with (`none` is not among them). */
export const ALGORITHMS: ReadonlySet<string> = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
  "EdDSA",
]);

/** A token whose form and claim types are valid (its signature is not checked yet). */
export interface Jwt {
  /** The token as it came. */
  readonly token: string;
  readonly alg: string;
  /** `kid` of the header; "" when absent. */
  readonly kid: string;
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** The payload part as it came (base64url, no padding). */
  readonly payloadBase64url: string;
  readonly iss: string;
  readonly sub: string;
  readonly audiences: readonly string[];
  /** `exp`, `nbf` in seconds; 0 when absent. */
  readonly exp: number;
  readonly nbf: number;
  /** `header.payload`, the bytes the signature covers. */
  readonly signedData: Uint8Array<ArrayBuffer>;
  readonly signature: Uint8Array<ArrayBuffer>;
}

/** Bytes of a base64url string (padding optional), or undefined when it is not base64url. */
export function base64urlDecode(s: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(s)) return undefined;
  const plain = s.replace(/=+$/, "").replaceAll("-", "+").replaceAll("_", "/");
  if (plain.length % 4 === 1) return undefined;
  try {
    const bin = atob(plain + "=".repeat((4 - plain.length % 4) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const ascii = new TextEncoder();

/** The JSON object in base64url `part`, "base64" when it is not base64url, "json" when not an object. */
function decodeObject(part: string): Record<string, unknown> | "base64" | "json" {
  const bytes = base64urlDecode(part);
  if (bytes === undefined) return "base64";
  try {
    const v = JSON.parse(utf8.decode(bytes));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : "json";
  } catch {
    return "json";
  }
}

/** A numeric date claim: its value, 0 when absent, or the status of a bad one. */
function numericDate(
  v: unknown,
  notInteger: Status,
  outOfRange: Status,
): number | Status {
  if (v === undefined) return 0;
  if (typeof v !== "number" || !Number.isInteger(v)) return notInteger;
  return v < 0 ? outOfRange : v;
}

/** Parses a compact JWT; returns the status of the first problem found. */
export function parseJwt(token: string): Jwt | Status {
  const parts = token.split(".");
  if (parts.length !== 3) return "JwtBadFormat";
  const header = decodeObject(parts[0]);
  if (header === "base64") return "JwtHeaderParseErrorBadBase64";
  if (header === "json") return "JwtHeaderParseErrorBadJson";
  const alg = header.alg;
  if (typeof alg !== "string") return "JwtHeaderBadAlg";
  if (!ALGORITHMS.has(alg)) return "JwtHeaderNotImplementedAlg";
  const kid = header.kid ?? "";
  if (typeof kid !== "string") return "JwtHeaderBadKid";
  const payload = decodeObject(parts[1]);
  if (payload === "base64") return "JwtPayloadParseErrorBadBase64";
  if (payload === "json") return "JwtPayloadParseErrorBadJson";
  const iss = payload.iss ?? "";
  if (typeof iss !== "string") return "JwtPayloadParseErrorIssNotString";
  const sub = payload.sub ?? "";
  if (typeof sub !== "string") return "JwtPayloadParseErrorSubNotString";
  const iat = numericDate(
    payload.iat,
    "JwtPayloadParseErrorIatNotInteger",
    "JwtPayloadParseErrorIatOutOfRange",
  );
  if (typeof iat === "string") return iat;
  const nbf = numericDate(
    payload.nbf,
    "JwtPayloadParseErrorNbfNotInteger",
    "JwtPayloadParseErrorNbfOutOfRange",
  );
  if (typeof nbf === "string") return nbf;
  const exp = numericDate(
    payload.exp,
    "JwtPayloadParseErrorExpNotInteger",
    "JwtPayloadParseErrorExpOutOfRange",
  );
  if (typeof exp === "string") return exp;
  if (payload.jti !== undefined && typeof payload.jti !== "string") {
    return "JwtPayloadParseErrorJtiNotString";
  }
  const aud = payload.aud;
  let audiences: string[] = [];
  if (typeof aud === "string") audiences = [aud];
  else if (Array.isArray(aud) && aud.every((a) => typeof a === "string")) audiences = aud;
  else if (aud !== undefined) return "JwtPayloadParseErrorAudNotString";
  const signature = base64urlDecode(parts[2]);
  if (signature === undefined) return "JwtSignatureParseErrorBadBase64";
  if (alg === "EdDSA" && signature.length !== 64) return "JwtEd25519SignatureWrongLength";
  return {
    token,
    alg,
    kid,
    header,
    payload,
    payloadBase64url: parts[1],
    iss,
    sub,
    audiences,
    exp,
    nbf,
    signedData: ascii.encode(`${parts[0]}.${parts[1]}`),
    signature,
  };
}

/** `nbf` and `exp` against `now` (seconds), each with `skew` seconds of tolerance. */
export function checkTime(jwt: Jwt, now: number, skew: number): Status {
  if (jwt.nbf > 0 && now + skew < jwt.nbf) return "JwtNotYetValid";
  if (jwt.exp > 0 && now > jwt.exp + skew) return "JwtExpired";
  return "Ok";
}

/** An audience as compared: without `http://` / `https://` and a trailing `/`. */
function normalizeAudience(a: string): string {
  let s = a.startsWith("http://") ? a.slice(7) : a.startsWith("https://") ? a.slice(8) : a;
  if (s.endsWith("/")) s = s.slice(0, -1);
  return s;
}

/** Allowed audiences (Envoy's CheckAudience): none configured allows every token. */
export class AudienceCheck {
  readonly #allowed: ReadonlySet<string>;

  constructor(audiences: readonly string[]) {
    this.#allowed = new Set(audiences.map(normalizeAudience));
  }

  /** Whether one of the token's audiences is allowed. */
  allows(audiences: readonly string[]): boolean {
    if (this.#allowed.size === 0) return true;
    return audiences.some((a) => this.#allowed.has(normalizeAudience(a)));
  }
}
