import type { Any } from "@bufbuild/protobuf/wkt";
import type { CsrfPolicy } from "../../../../../proto/gen/envoy/extensions/filters/http/csrf/v3/csrf_pb.ts";
import { unpackAny } from "../../../../config/any.ts";
import { assertEquals } from "../../../../testing/assert.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { routeTable } from "../../../../testing/http_filter.ts";
import { allPerFilterConfigs, mostSpecificPerFilterConfig } from "./per_filter_config.ts";

const any = (name: string) => ({
  "@type": "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy",
  additionalOrigins: [{ exact: name }],
});

const table = routeTable({
  typedPerFilterConfig: { f: any("config") },
  virtualHosts: [{
    name: "v",
    domains: ["*"],
    typedPerFilterConfig: { f: any("vhost"), ext: any("vhost-ext") },
    routes: [
      {
        match: { prefix: "/w" },
        route: {
          weightedClusters: {
            clusters: [{ name: "a", weight: 1, typedPerFilterConfig: { f: any("cluster") } }],
          },
        },
      },
      {
        match: { prefix: "/r" },
        route: { cluster: "c" },
        typedPerFilterConfig: { f: any("route") },
      },
      { match: { prefix: "/" }, route: { cluster: "c" } },
    ],
  }],
});

/** The configs found for a request to `path`, by their labels. */
function names(path: string, configName: string) {
  const headers = HeaderMap.from([[":authority", "x"], [":path", path]]);
  const m = table.route({ headers, random: 0 })!;
  const label = (a: Any | undefined) =>
    a && unpackAny<CsrfPolicy>(a)!.additionalOrigins[0].matchPattern.value as string;
  return {
    all: allPerFilterConfigs(m, configName, "ext").map(label),
    most: label(mostSpecificPerFilterConfig(m, configName, "ext")),
  };
}

Deno.test("per-filter configs: every level least specific first; the most specific", () => {
  assertEquals(names("/w", "f"), {
    all: ["config", "vhost", "cluster"],
    most: "cluster",
  });
  assertEquals(names("/r", "f"), { all: ["config", "vhost", "route"], most: "route" });
  assertEquals(names("/", "f"), { all: ["config", "vhost"], most: "vhost" });
});

Deno.test("per-filter configs: by the extension's name when none has the chain name", () => {
  assertEquals(names("/", "other"), { all: ["vhost-ext"], most: "vhost-ext" });
});
