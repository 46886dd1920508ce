/**
 * `/runtime` (the layered runtime as Envoy's JSON: layer names, and per key the final value
 * and each layer's value) and `POST /runtime_modify` (admin layer overrides from query
 * parameters or a form body; an empty value removes an override).
 *
 * @module
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { SnapshotData } from "../runtime/snapshot.ts";
import { type Handler, json, text } from "./handler.ts";

/** What the runtime endpoints need of the server. */
export interface RuntimeAdmin {
  /** The current snapshot's layers. */
  runtime(): SnapshotData;
  /** Sets (or, for empty values, removes) admin overrides; throws when there is no admin layer. */
  runtimeModify(values: [string, string][]): void;
}

/**
 * Envoy's `/runtime` JSON: `layers` in order and, per key (sorted), `layer_values` (one per
 * layer, "" where a layer lacks the key) and `final_value` (the last non-empty one).
 */
export function runtimeJson(snapshot: SnapshotData): JsonObject {
  const keys = new Set<string>();
  for (const l of snapshot.layers) for (const k of Object.keys(l.entries)) keys.add(k);
  const entries: JsonObject = {};
  for (const key of [...keys].sort()) {
    const layerValues = snapshot.layers.map((l) => l.entries[key]?.raw ?? "");
    let finalValue = "";
    for (const v of layerValues) if (v !== "") finalValue = v;
    entries[key] = { final_value: finalValue, layer_values: layerValues };
  }
  return { layers: snapshot.layers.map((l) => l.name), entries };
}

const USAGE = "usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n" +
  "       or send the parameters as form values\n" +
  "use an empty value to remove a previously added override";

/** The `/runtime` and `/runtime_modify` endpoints. */
export function runtimeHandlers(server: RuntimeAdmin): Handler[] {
  return [
    {
      path: "/runtime",
      help: "print runtime values",
      post: false,
      params: [],
      run: (c) => json(c, runtimeJson(server.runtime())),
    },
    {
      path: "/runtime_modify",
      help: "Adds or modifies runtime values as passed in query parameters. To delete a " +
        "previously added key, use an empty string as the value. Note that deletion only " +
        "applies to overrides added via this endpoint; values loaded from disk can be " +
        "modified via override but not deleted. E.g. ?key1=value1&key2=value2...",
      post: true,
      params: [],
      run: (c, q) => {
        const values = [...q.entries()];
        if (values.length === 0) return text(c, USAGE, 400);
        try {
          server.runtimeModify(values);
        } catch (e) {
          return text(c, (e as Error).message, 503);
        }
        return text(c, "OK\n");
      },
    },
  ];
}
