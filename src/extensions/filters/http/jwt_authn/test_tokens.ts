/**
 * Test support: key pairs made with WebCrypto, their public JWKs, and tokens signed with
 * them, so tests never carry fixed tokens.
 *
 * @module
 */

const b64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** base64url of a JSON value (a token's header or payload). */
export const encodePart = (v: unknown): string =>
  b64url(new TextEncoder().encode(JSON.stringify(v)));

/** A signing key and the public JWK that verifies it. */
export interface TestKey {
  alg: string;
  kid: string;
  jwk: JsonWebKey;
  sign(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array>;
}

const HASH: Record<string, string> = { "256": "SHA-256", "384": "SHA-384", "512": "SHA-512" };

/** A fresh key for `alg` (RS*, PS*, ES*, HS*, EdDSA) with key id `kid`. */
export async function makeKey(alg: string, kid = alg.toLowerCase()): Promise<TestKey> {
  const hash = HASH[alg.slice(2)];
  let gen: AlgorithmIdentifier | RsaHashedKeyGenParams | EcKeyGenParams | HmacKeyGenParams;
  let sign: AlgorithmIdentifier | RsaPssParams | EcdsaParams;
  switch (alg.slice(0, 2)) {
    case "RS":
      gen = {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash,
      };
      sign = { name: "RSASSA-PKCS1-v1_5" };
      break;
    case "PS":
      gen = {
        name: "RSA-PSS",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash,
      };
      sign = { name: "RSA-PSS", saltLength: Number(alg.slice(2)) / 8 };
      break;
    case "ES":
      gen = { name: "ECDSA", namedCurve: { ES256: "P-256", ES384: "P-384", ES512: "P-521" }[alg]! };
      sign = { name: "ECDSA", hash };
      break;
    case "HS":
      gen = { name: "HMAC", hash, length: 256 };
      sign = { name: "HMAC" };
      break;
    default:
      gen = { name: "Ed25519" };
      sign = { name: "Ed25519" };
  }
  const k = await crypto.subtle.generateKey(gen, true, ["sign", "verify"]);
  const priv = "privateKey" in k ? k.privateKey : k;
  const full = await crypto.subtle.exportKey("jwk", "publicKey" in k ? k.publicKey : k);
  const jwk: JsonWebKey = { kty: full.kty };
  for (const f of ["n", "e", "crv", "x", "y", "k"] as const) if (full[f]) jwk[f] = full[f];
  Object.assign(jwk, { kid, alg });
  return {
    alg,
    kid,
    jwk,
    sign: async (data) => new Uint8Array(await crypto.subtle.sign(sign, priv, data)),
  };
}

/** A JWKS document of `keys`. */
export const jwksOf = (...keys: TestKey[]): string =>
  JSON.stringify({ keys: keys.map((k) => k.jwk) });

/** A compact token with `payload`, signed by `key` (header: alg, kid, typ). */
export async function signToken(
  key: TestKey,
  payload: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const input = `${encodePart({ alg: key.alg, kid: key.kid, typ: "JWT", ...header })}.${
    encodePart(payload)
  }`;
  return `${input}.${b64url(await key.sign(new TextEncoder().encode(input)))}`;
}
