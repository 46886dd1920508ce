/**
 * JSON Web Key Sets (RFC 7517) and JWT signature verification with WebCrypto: RSA
 * (RS256/384/512, PS256/384/512), EC (ES256/384/512 on P-256/P-384/P-521), `oct` keys for
 * HMAC (HS256/384/512) and OKP Ed25519 (EdDSA). A key that is malformed is left out of the
 * set, as Envoy does; a set without any usable key is `JwksNoValidKeys`. Nothing here throws
 * on bad input.
 *
 * @module
 */
import { base64urlDecode, type Jwt, type Status } from "./jwt.ts";

/** One usable key of a set. */
interface Jwk {
  readonly kty: "RSA" | "EC" | "oct" | "OKP";
  /** "" when the key does not say. */
  readonly kid: string;
  readonly alg: string;
  /** EC and OKP curve. */
  readonly crv: string;
  /** The JWK members WebCrypto imports (RSA, EC, OKP). */
  readonly jwk: JsonWebKey;
  /** HMAC secret (oct). */
  readonly secret?: Uint8Array<ArrayBuffer>;
  /** Imported keys by algorithm (a key without `alg` may serve several). */
  readonly imported: Map<string, Promise<CryptoKey | undefined>>;
}

/** A parsed key set. */
export interface Jwks {
  readonly keys: readonly Jwk[];
}

const EC_CURVES: Record<string, string> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };
const str = (v: unknown): string | undefined => typeof v === "string" ? v : undefined;

/** One key of a set, or undefined when it is malformed or of a type not supported. */
function parseKey(k: unknown): Jwk | undefined {
  if (k === null || typeof k !== "object") return undefined;
  const o = k as Record<string, unknown>;
  const kid = o.kid === undefined ? "" : str(o.kid);
  const alg = o.alg === undefined ? "" : str(o.alg);
  if (kid === undefined || alg === undefined) return undefined;
  const imported = new Map<string, Promise<CryptoKey | undefined>>();
  switch (o.kty) {
    case "RSA": {
      if (alg !== "" && !alg.startsWith("RS") && !alg.startsWith("PS")) return undefined;
      const n = str(o.n), e = str(o.e);
      if (!n || !e || !base64urlDecode(n) || !base64urlDecode(e)) return undefined;
      return { kty: "RSA", kid, alg, crv: "", jwk: { kty: "RSA", n, e }, imported };
    }
    case "EC": {
      if (alg !== "" && EC_CURVES[alg] === undefined) return undefined;
      const crv = o.crv === undefined ? (EC_CURVES[alg] ?? "P-256") : str(o.crv);
      if (crv === undefined || !Object.values(EC_CURVES).includes(crv)) return undefined;
      if (alg !== "" && EC_CURVES[alg] !== crv) return undefined;
      const x = str(o.x), y = str(o.y);
      if (!x || !y || !base64urlDecode(x) || !base64urlDecode(y)) return undefined;
      return { kty: "EC", kid, alg, crv, jwk: { kty: "EC", crv, x, y }, imported };
    }
    case "oct": {
      if (alg !== "" && !alg.startsWith("HS")) return undefined;
      const k = str(o.k);
      const secret = k === undefined ? undefined : base64urlDecode(k);
      if (!secret) return undefined;
      return { kty: "oct", kid, alg, crv: "", jwk: {}, secret, imported };
    }
    case "OKP": {
      if (alg !== "" && alg !== "EdDSA") return undefined;
      const x = str(o.x);
      const xb = x === undefined ? undefined : base64urlDecode(x);
      if (o.crv !== "Ed25519" || !xb || xb.length !== 32) return undefined;
      return {
        kty: "OKP",
        kid,
        alg,
        crv: "Ed25519",
        jwk: { kty: "OKP", crv: "Ed25519", x },
        imported,
      };
    }
  }
  return undefined;
}

/** Parses a JWKS document; the status when it is not one or has no usable key. */
export function parseJwks(text: string): Jwks | Status {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return "JwksParseError";
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return "JwksParseError";
  const keys = (doc as Record<string, unknown>).keys;
  if (keys === undefined) return "JwksNoKeys";
  if (!Array.isArray(keys)) return "JwksBadKeys";
  const out: Jwk[] = [];
  for (const k of keys) {
    const key = parseKey(k);
    if (key) out.push(key);
  }
  return out.length === 0 ? "JwksNoValidKeys" : { keys: out };
}

/** Whether `key` is of the family token algorithm `alg` needs. */
function keyFits(key: Jwk, alg: string): boolean {
  switch (key.kty) {
    case "RSA":
      return alg.startsWith("RS") || alg.startsWith("PS");
    case "EC":
      return EC_CURVES[alg] === key.crv;
    case "oct":
      return alg.startsWith("HS");
    case "OKP":
      return alg === "EdDSA";
  }
}

type VerifyParams = AlgorithmIdentifier | RsaPssParams | EcdsaParams;

/** WebCrypto's import and verify parameters for a token algorithm. */
function algorithmParams(
  alg: string,
): { importAs: Algorithm & { hash?: string }; verify: VerifyParams } {
  const hash = `SHA-${alg.slice(2)}`;
  switch (alg.slice(0, 2)) {
    case "RS":
      return {
        importAs: { name: "RSASSA-PKCS1-v1_5", hash },
        verify: { name: "RSASSA-PKCS1-v1_5" },
      };
    case "PS":
      return {
        importAs: { name: "RSA-PSS", hash },
        verify: { name: "RSA-PSS", saltLength: Number(alg.slice(2)) / 8 },
      };
    case "ES":
      return { importAs: { name: "ECDSA" }, verify: { name: "ECDSA", hash } };
    case "HS":
      return { importAs: { name: "HMAC", hash }, verify: { name: "HMAC" } };
    default:
      return { importAs: { name: "Ed25519" }, verify: { name: "Ed25519" } };
  }
}

/** The key imported for `alg` (once per key and algorithm); undefined when WebCrypto refuses it. */
function importFor(key: Jwk, alg: string): Promise<CryptoKey | undefined> {
  let p = key.imported.get(alg);
  if (p === undefined) {
    const { importAs } = algorithmParams(alg);
    const params = key.kty === "EC" ? { name: "ECDSA", namedCurve: key.crv } : importAs;
    p = (key.secret
      ? crypto.subtle.importKey("raw", key.secret, params, false, ["verify"])
      : crypto.subtle.importKey("jwk", key.jwk, params, false, ["verify"]))
      .catch(() =>
        undefined
      );
    key.imported.set(alg, p);
  }
  return p;
}

/**
 * Checks the token's signature with the keys of `jwks` that may have signed it (same `kid`
 * when both say one, same `alg` when the key says one, the algorithm's key type): `Ok` when
 * one verifies, `JwtVerificationFail` when none does, `JwksKidAlgMismatch` when no key fits.
 */
export async function verifySignature(jwt: Jwt, jwks: Jwks): Promise<Status> {
  let tried = false;
  for (const key of jwks.keys) {
    if (jwt.kid !== "" && key.kid !== "" && key.kid !== jwt.kid) continue;
    if (key.alg !== "" && key.alg !== jwt.alg) continue;
    if (!keyFits(key, jwt.alg)) continue;
    tried = true;
    const cryptoKey = await importFor(key, jwt.alg);
    if (cryptoKey === undefined) continue;
    try {
      const ok = await crypto.subtle.verify(
        algorithmParams(jwt.alg).verify,
        cryptoKey,
        jwt.signature,
        jwt.signedData,
      );
      if (ok) return "Ok";
    } catch {
      // A signature WebCrypto cannot even read (wrong length) does not verify.
    }
  }
  return tried ? "JwtVerificationFail" : "JwksKidAlgMismatch";
}
