/**
 * `xdstp://` resource names and locators (xDS transport protocol, the `xds.core.v3`
 * ResourceName and ResourceLocator), decoded and encoded as Envoy's XdsResourceIdentifier
 * does: `xdstp://<authority>/<resource type>/<id>?<context params>`, percent-encoded, with
 * locators adding a `#` fragment of directives. Names are compared in their normal form
 * (context parameters sorted), and a resource `.../<path>/<name>` belongs to the glob
 * collection `.../<path>/*`.
 *
 * @module
 */

/** The scheme Envoy recognises as an xDS-TP name. */
const XDSTP = "xdstp:";

/** A decoded `xdstp://` resource name (`xds.core.v3.ResourceName`). */
export interface XdstpName {
  authority: string;
  /** The fully qualified message name, e.g. `envoy.config.listener.v3.Listener`. */
  resourceType: string;
  id: string;
  /** Context parameters (the query), in the order given. */
  context: [string, string][];
}

/** A decoded resource locator (`xds.core.v3.ResourceLocator`). */
export interface XdstpLocator extends XdstpName {
  scheme: "xdstp" | "http" | "file";
  /** The fragment's directives (`alt=...`, `entry=...`), as written. */
  directives: string[];
}

/** Whether `name` is an xDS-TP name (it starts with `xdstp:`). */
export function isXdstp(name: string): boolean {
  return name.startsWith(XDSTP);
}

const HEX = "0123456789ABCDEF";
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Percent-encodes `reserved` characters and bytes outside printable ASCII, as Envoy does. */
function encode(value: string, reserved: string): string {
  let out = "";
  for (const b of utf8.encode(value)) {
    const ch = String.fromCharCode(b);
    if (b < 0x20 || b >= 0x7e || reserved.includes(ch)) {
      out += "%" + HEX[b >> 4] + HEX[b & 15];
    } else out += ch;
  }
  return out;
}

/** Decodes `%XX` sequences; a malformed one stays as it is (Envoy's PercentEncoding). */
function decode(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...utf8.encode(value[i]));
  }
  return fromUtf8.decode(new Uint8Array(bytes));
}

/** Host and path of `uri` as Envoy's extractHostPathFromUri splits them. */
function hostPath(uri: string): { host: string; path: string } {
  const scheme = uri.indexOf("://");
  const hostAt = scheme < 0 ? 0 : scheme + 3;
  const slash = uri.indexOf("/", hostAt);
  if (slash < 0) return { host: uri.slice(hostAt), path: "/" };
  return { host: uri.slice(hostAt, slash), path: uri.slice(slash) };
}

/** The type and id of a path (`/<type>/<id...>`); throws when the type is missing. */
function decodePath(path: string, withType: boolean): { resourceType: string; id: string } {
  const parts = path.slice(1).split("/");
  let resourceType = "";
  if (withType) {
    resourceType = parts.shift()!;
    if (resourceType === "") throw new Error(`Resource type missing from ${path}`);
  }
  return { resourceType, id: decode(parts.join("/")) };
}

/** Context parameters of a query (`?a=1&b=2`); the first value of a repeated key counts. */
function decodeQuery(query: string): [string, string][] {
  const out = new Map<string, string>();
  for (const part of query.replace(/^\?/, "").split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(key)) out.set(key, decode(eq < 0 ? "" : part.slice(eq + 1)));
  }
  return [...out];
}

/** Splits the query off `path`. */
function splitQuery(path: string): { path: string; context: [string, string][] } {
  const q = path.indexOf("?");
  if (q < 0) return { path, context: [] };
  return { path: path.slice(0, q), context: decodeQuery(path.slice(q)) };
}

/** Decodes an `xdstp://` resource name; throws (with Envoy's message) when it is not one. */
export function decodeXdstpName(name: string): XdstpName {
  if (!isXdstp(name)) throw new Error(`${name} does not have an xdstp: scheme`);
  const { host, path: full } = hostPath(name);
  const { path, context } = splitQuery(full);
  return { authority: decode(host), ...decodePath(path, true), context };
}

/**
 * Decodes a resource locator (`xdstp:`, `http:` or `file:`); throws with Envoy's message for
 * another scheme, a missing type or an unknown directive.
 */
export function decodeXdstpLocator(url: string): XdstpLocator {
  const { host, path: full } = hostPath(url);
  let path = full;
  const directives: string[] = [];
  const hash = path.indexOf("#");
  if (hash >= 0) {
    for (const d of path.slice(hash + 1).split(",")) {
      if (!d.startsWith("alt=") && !d.startsWith("entry=")) {
        throw new Error(`Unknown fragment component ${d}`);
      }
      directives.push(d);
    }
    path = path.slice(0, hash);
  }
  const scheme = isXdstp(url)
    ? "xdstp"
    : url.startsWith("http:")
    ? "http"
    : url.startsWith("file:")
    ? "file"
    : undefined;
  if (!scheme) throw new Error(`${url} does not have a xdstp:, http: or file: scheme`);
  if (scheme === "file") {
    return {
      scheme,
      authority: "",
      resourceType: "",
      id: decodePath(path, false).id,
      context: [],
      directives,
    };
  }
  const q = splitQuery(path);
  return {
    scheme,
    authority: decode(host),
    ...decodePath(q.path, true),
    context: q.context,
    directives,
  };
}

/** Encodes `name` with its context parameters sorted: the form names are compared in. */
export function encodeXdstpName(name: XdstpName): string {
  const id = encode(name.id, "%:?#[]");
  const params = name.context
    .map(([k, v]) => `${encode(k, "%#[]&=")}=${encode(v, "%#[]&=")}`)
    .sort();
  return `xdstp://${encode(name.authority, "%/?#")}/${name.resourceType}` +
    (id === "" ? "" : `/${id}`) + (params.length === 0 ? "" : `?${params.join("&")}`);
}

/**
 * The normal form of a resource name: an `xdstp://` name re-encoded with sorted context
 * parameters (so `?b=2&a=1` and `?a=1&b=2` are one name), any other name as it is. A name
 * that does not decode stays as it is.
 */
export function normalName(name: string): string {
  if (!isXdstp(name)) return name;
  try {
    return encodeXdstpName(decodeXdstpName(name));
  } catch {
    return name;
  }
}

/**
 * The glob collection an `xdstp://` resource belongs to (its last path component replaced by
 * `*`), in normal form; undefined for another name.
 */
export function globCollectionOf(name: string): string | undefined {
  if (!isXdstp(name)) return undefined;
  let n: XdstpName;
  try {
    n = decodeXdstpName(name);
  } catch {
    return undefined;
  }
  const slash = n.id.lastIndexOf("/");
  return encodeXdstpName({ ...n, id: slash < 0 ? "*" : `${n.id.slice(0, slash)}/*` });
}

/**
 * Whether a watch of `names` (in normal form) wants resource `name`: by name, by its normal
 * form, or as a member of a glob collection watched (as Envoy's WatchMap).
 */
export function watchWants(names: readonly string[], name: string): boolean {
  if (names.includes(name)) return true;
  if (!isXdstp(name)) return false;
  if (names.includes(normalName(name))) return true;
  const glob = globCollectionOf(name);
  return glob !== undefined && names.includes(glob);
}

/** Why `name` (a resource name) cannot be used: an `xdstp:` name that does not decode. */
export function xdstpNameProblem(name: string): string | undefined {
  if (!isXdstp(name)) return undefined;
  try {
    decodeXdstpName(name);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
