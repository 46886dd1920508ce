/**
 * The incremental (delta) xDS multiplexer of one stream (Envoy's NewGrpcMuxImpl), independent
 * of the transport: each type keeps the resources it holds (name, version, message), so that
 * a response that adds, updates or removes some of them becomes the whole state of the world
 * the subscription layer applies — or rejects, in which case nothing is kept and the type is
 * NACKed. Interest changes go out as `resource_names_subscribe` / `_unsubscribe`; a new stream
 * says again what is held (`initial_resource_versions`). Responses for types nobody watches
 * are ignored.
 *
 * @module
 */
import { create, type JsonObject, toJsonString } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { getLogger } from "../common/logger.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { type DecodeContext, decodeResponseText, rejectedUpdate } from "./decode.ts";
import { type DeltaRequest, type DeltaResponse, DeltaState } from "./protocol_state.ts";
import type { ResourceType } from "./resource_types.ts";
import type { MuxWatch } from "./sotw_mux.ts";
import type { DiscoveryResponse } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const discoveryResponseSchema = () =>
  messageSchema<DiscoveryResponse>("envoy.service.discovery.v3.DiscoveryResponse");

const log = getLogger("config");

/** A request as sent: the first one of a stream carries the node. */
export type DeltaMuxRequest = DeltaRequest & { node?: JsonObject };

interface TypeState {
  type: ResourceType;
  state: DeltaState;
  watches: Set<MuxWatch>;
  /** The resources held, by name. */
  held: Map<string, Any>;
}

/** Incremental xDS over one stream. */
export class DeltaMux {
  readonly #types = new Map<string, TypeState>();
  #first = true;

  constructor(
    readonly send: (request: DeltaMuxRequest) => void,
    readonly decode: DecodeContext,
    readonly node: JsonObject,
  ) {}

  /** Adds a watch of `type` (names: none for a wildcard); returns the function removing it. */
  watch(type: ResourceType, watch: MuxWatch): () => void {
    let t = this.#types.get(type.typeUrl);
    if (!t) {
      t = {
        type,
        state: new DeltaState(type.typeUrl, watch.names),
        watches: new Set(),
        held: new Map(),
      };
      this.#types.set(type.typeUrl, t);
    } else t.state.subscribe(watch.names);
    t.watches.add(watch);
    const ts = t;
    if (ts.state.pending) this.#send(ts.state.request());
    return () => {
      ts.watches.delete(watch);
      const still = new Set([...ts.watches].flatMap((w) => w.names));
      const gone = watch.names.filter((n) => !still.has(n));
      ts.state.unsubscribe(gone);
      for (const n of gone) ts.held.delete(n);
      const last = ts.watches.size === 0;
      if (last) this.#types.delete(ts.type.typeUrl);
      // The server hears of the names no longer wanted even when the type has no watch left
      // (`resource_names_unsubscribe`), as Envoy's mux does.
      if (ts.state.pending && (!last || gone.length > 0)) this.#send(ts.state.request());
    };
  }

  /** A new stream: every type says again what it wants and what it holds. */
  onStreamEstablished(): void {
    this.#first = true;
    for (const t of this.#types.values()) this.#send(t.state.streamReset());
  }

  /** A response: applied to what is held and delivered whole, or NACKed changing nothing. */
  onResponse(response: DeltaResponse): void {
    const t = this.#types.get(response.typeUrl);
    if (!t) {
      log.warn(`Ignoring the delta message for type URL ${response.typeUrl}: no subscribers.`);
      return;
    }
    const reply = t.state.onResponse(response, (update) => {
      const next = new Map(t.held);
      for (const r of update.added) next.set(r.name, r.resource!);
      for (const name of update.removed) next.delete(name);
      let text: string;
      try {
        text = toJsonString(
          discoveryResponseSchema(),
          create(discoveryResponseSchema(), {
            versionInfo: update.systemVersionInfo,
            typeUrl: response.typeUrl,
            nonce: response.nonce,
            resources: [...next.values()],
          }),
          { registry: apiRegistry() },
        );
      } catch (e) {
        const detail = `cannot decode the ${t.type.service} response: ${(e as Error).message}`;
        for (const w of t.watches) w.deliver(rejectedUpdate(t.type, detail));
        throw new Error(detail);
      }
      const result = decodeResponseText(text, `${t.type.service} response`, t.type, this.decode);
      const errors: string[] = [];
      const namespaced = t.type.namespaced === true;
      for (const w of t.watches) {
        const names = w.names;
        const wanted = (name: string) =>
          names.includes(name) ||
          namespaced && names.includes(name.slice(0, Math.max(0, name.lastIndexOf("/"))));
        const own = names.length === 0 || !result.update ? result : {
          ...result,
          update: {
            ...result.update,
            resources: result.update.resources.filter((r) => wanted(r.name)),
          },
        } as typeof result;
        const error = w.deliver(own);
        if (error !== undefined) errors.push(error);
      }
      if (errors.length > 0) throw new Error(errors.join("\n"));
      t.held = next;
    }, (detail) => {
      for (const w of t.watches) w.deliver(rejectedUpdate(t.type, detail));
    });
    this.#send(reply);
  }

  #send(request: DeltaRequest): void {
    if (this.#first) {
      this.#first = false;
      this.send({ ...request, node: this.node });
    } else this.send(request);
  }
}
