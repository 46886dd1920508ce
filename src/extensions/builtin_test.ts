import { assert } from "../testing/assert.ts";
import { builtinExtensions } from "./builtin.ts";

Deno.test("every built-in extension has the hook its category is built with", () => {
  // The loader checks an extension's category against where it is named (EXTENSION_POINTS);
  // serving then builds it with this hook, so the two must agree.
  const hooks = {
    "envoy.filters.network": "createNetworkFilter",
    "envoy.filters.http": "createHttpFilter",
    "envoy.stats_sinks": "createStatsSink",
    "envoy.compression.compressor": "createCompressorLibrary",
    "envoy.compression.decompressor": "createDecompressorLibrary",
  } as const;
  for (const f of builtinExtensions().all()) {
    const hook = hooks[f.category as keyof typeof hooks];
    if (hook) assert(f[hook] !== undefined, `${f.name} (${f.category}) lacks ${hook}`);
  }
});

Deno.test("every built-in extension declares the fields of its configs", () => {
  const reg = builtinExtensions();
  for (const f of reg.all()) {
    for (const t of [...f.configTypes, ...(f.perRouteConfigTypes ?? [])]) {
      assert(reg.fields.fields(t) !== undefined, `${f.name}: ${t} declares no fields`);
    }
  }
});
