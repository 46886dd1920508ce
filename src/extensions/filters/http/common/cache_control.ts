/**
 * `cache-control` checks the body-transforming filters share.
 *
 * @module
 */
import type { HeaderMap } from "../../../../http/header_map.ts";

/** Whether `cache-control` has the `no-transform` directive (RFC 9111 5.2): leave the body be. */
export function hasCacheControlNoTransform(headers: HeaderMap): boolean {
  const cc = headers.get("cache-control");
  if (cc === undefined) return false;
  return cc.split(",").some((t) => t.trim().toLowerCase() === "no-transform");
}
