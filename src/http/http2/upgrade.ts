/**
 * Upgrades across HTTP/1 and HTTP/2, as Envoy's codecs translate them (Http::Utility's
 * transformUpgrade* functions), so the connection manager's `upgrade_configs` and the router
 * see every upgrade in its HTTP/1 form:
 * - server role: an extended CONNECT (RFC 8441: CONNECT with `:protocol`) is delivered as
 *   `GET` with `upgrade: <protocol>` and `connection: upgrade`; an HTTP/1-style upgrade
 *   response (101, `upgrade`) goes out as 200 without the hop-by-hop headers;
 * - client role: an HTTP/1 upgrade request goes out as an extended CONNECT, and the 200 that
 *   answers it comes back as 101 with `upgrade` and `connection: upgrade`.
 *
 * @module
 */
import { HeaderMap } from "../header_map.ts";

/** Whether `headers` ask for (or accept) an HTTP/1 upgrade: `connection: upgrade` + `upgrade`. */
export function isUpgrade(headers: HeaderMap): boolean {
  const upgrade = headers.get("upgrade");
  if (upgrade === undefined || upgrade === "") return false;
  const connection = headers.get("connection");
  if (connection === undefined) return false;
  for (const token of connection.split(",")) {
    if (token.trim().toLowerCase() === "upgrade") return true;
  }
  return false;
}

/** Whether `headers` are an extended CONNECT for a protocol other than `bytestream`. */
export function isH2UpgradeRequest(headers: HeaderMap): boolean {
  const protocol = headers.get(":protocol");
  return headers.get(":method") === "CONNECT" && protocol !== undefined &&
    protocol !== "bytestream";
}

/** Extended CONNECT to its HTTP/1 form (server role, before the connection manager sees it). */
export function upgradeRequestFromH2toH1(headers: HeaderMap): void {
  const protocol = headers.get(":protocol")!;
  headers.set(":method", "GET");
  headers.remove(":protocol");
  headers.set("upgrade", protocol);
  headers.set("connection", "upgrade");
}

/** An HTTP/1 upgrade response in HTTP/2 form (a copy; server role). */
export function upgradeResponseFromH1toH2(headers: HeaderMap): HeaderMap {
  const out = headers.clone();
  if (out.get(":status") === "101") out.set(":status", "200");
  out.remove("upgrade");
  out.remove("connection");
  if (out.get("content-length") === "0") out.remove("content-length");
  return out;
}

/** An HTTP/1 upgrade request as an extended CONNECT (a copy; client role). */
export function upgradeRequestFromH1toH2(headers: HeaderMap): HeaderMap {
  const out = headers.clone();
  const upgrade = out.get("upgrade")!;
  out.set(":method", "CONNECT");
  out.set(":protocol", upgrade);
  out.remove("upgrade");
  out.remove("connection");
  if (out.get("content-length") === "0") out.remove("content-length");
  return out;
}

/** The 200 that accepts an extended CONNECT, as the HTTP/1 101 (client role). */
export function upgradeResponseFromH2toH1(headers: HeaderMap, upgrade: string): void {
  if (headers.get(":status") !== "200") return;
  headers.set("upgrade", upgrade);
  headers.set("connection", "upgrade");
  headers.set(":status", "101");
}
