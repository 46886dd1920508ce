/** Addresses as Envoy prints them in logs, admin output and access logs. */
import type { Address } from "../../proto/gen/envoy/config/core/v3/address_pb.ts";

/** `ip:port` as Envoy prints addresses (IPv6 in brackets). */
export function formatAddress(a: Address | undefined): string {
  const sa = a?.address;
  if (sa?.case === "socketAddress") {
    const ps = sa.value.portSpecifier;
    const port = ps.case === "portValue" ? String(ps.value) : ps.value ?? "0";
    return sa.value.address.includes(":")
      ? `[${sa.value.address}]:${port}`
      : `${sa.value.address}:${port}`;
  }
  if (sa?.case === "pipe") return sa.value.path;
  if (sa?.case === "envoyInternalAddress") {
    return `envoy://${sa.value.addressNameSpecifier.value ?? ""}`;
  }
  return "(no address)";
}
