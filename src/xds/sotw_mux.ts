/**
 * The state-of-the-world xDS multiplexer of one stream (Envoy's GrpcMuxImpl), independent of
 * the transport: subscriptions of every type share the stream; each type's interest is the
 * union of its watchers' names; a response is decoded once, each watcher gets the resources
 * it asked for, and the type is ACKed or NACKed (`error_detail`) as a whole. A response for a
 * type nobody watches (or a type xDS does not define) is ignored, as Envoy does. The gRPC
 * stream (issue 13) only has to call {@linkcode SotwMux.onResponse} and
 * {@linkcode SotwMux.onStreamEstablished} and send what `send` is given.
 *
 * @module
 */
import { create, type JsonObject, toJsonString } from "@bufbuild/protobuf";
import type { DiscoveryResponse } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { getLogger } from "../common/logger.ts";
import { apiRegistry, messageSchema } from "../config/api.ts";
import {
  type DecodeContext,
  decodeResponseText,
  type DecodeResult,
  rejectedUpdate,
} from "./decode.ts";
import { type SotwRequest, type SotwResponse, SotwState } from "./protocol_state.ts";
import { RESOURCE_TYPES, type ResourceType } from "./resource_types.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const discoveryResponseSchema = () =>
  messageSchema<DiscoveryResponse>("envoy.service.discovery.v3.DiscoveryResponse");

const log = getLogger("config");

/** A request as sent: the first one of a stream carries the node. */
export type MuxRequest = SotwRequest & { node?: JsonObject };

/** One subscription's share of a type: the names it wants (none: all) and its delivery. */
export interface MuxWatch {
  readonly names: readonly string[];
  /** Gets the decoded update (its resources filtered to `names`); returns why it was refused. */
  deliver(result: DecodeResult): string | undefined;
}

interface TypeState {
  type: ResourceType;
  state: SotwState;
  watches: Set<MuxWatch>;
}

/** State of the world over one stream. */
export class SotwMux {
  readonly #types = new Map<string, TypeState>();
  #first = true;

  constructor(
    readonly send: (request: MuxRequest) => void,
    readonly decode: DecodeContext,
    /** The node every stream's first request carries. */
    readonly node: JsonObject,
  ) {}

  /** Adds a watch of `type`; returns the function that removes it. Sends the new interest. */
  watch(type: ResourceType, watch: MuxWatch): () => void {
    let ts = this.#types.get(type.typeUrl);
    if (!ts) {
      ts = { type, state: new SotwState(type.typeUrl), watches: new Set() };
      this.#types.set(type.typeUrl, ts);
    }
    ts.watches.add(watch);
    const t = ts;
    this.#send(t.state.setNames(this.#names(t)));
    return () => {
      t.watches.delete(watch);
      if (t.watches.size > 0) {
        this.#send(t.state.setNames(this.#names(t)));
        return;
      }
      this.#types.delete(t.type.typeUrl);
      // The last named watch went: an empty resource_names (past the stream's first request it
      // is no wildcard) tells the server nothing of the type is wanted any more, as Envoy's
      // mux does. A wildcard watch (LDS, CDS) only goes when the server stops.
      if (watch.names.length > 0) this.#send(t.state.setNames([]));
    };
  }

  /** A new stream: every type is requested again (its accepted version kept, no nonce). */
  onStreamEstablished(): void {
    this.#first = true;
    for (const t of this.#types.values()) this.#send(t.state.streamReset());
  }

  /**
   * A response arrived: decoded once, delivered to every watch of its type, answered with an
   * ACK or a NACK. Responses for types nobody watches are ignored.
   */
  onResponse(response: SotwResponse): void {
    const t = this.#types.get(response.typeUrl);
    if (!t) {
      const known = RESOURCE_TYPES.has(response.typeUrl) ? "" : " (not an xDS type)";
      log.warn(
        `Ignoring the message for type URL ${response.typeUrl}${known} as it has no current ` +
          "subscribers.",
      );
      return;
    }
    const reply = t.state.onResponse(response, (resources, versionInfo) => {
      const msg: DiscoveryResponse = create(discoveryResponseSchema(), {
        versionInfo,
        typeUrl: response.typeUrl,
        nonce: response.nonce,
        resources: [...resources],
      });
      let text: string;
      try {
        text = toJsonString(discoveryResponseSchema(), msg, { registry: apiRegistry() });
      } catch (e) {
        const detail = `cannot decode the ${t.type.service} response: ${(e as Error).message}`;
        this.#deliver(t, rejectedUpdate(t.type, detail));
        throw new Error(detail);
      }
      const result = decodeResponseText(text, `${t.type.service} response`, t.type, this.decode);
      const errors = this.#deliver(t, result);
      if (errors.length > 0) throw new Error(errors.join("\n"));
    }, (detail) => this.#deliver(t, rejectedUpdate(t.type, detail)));
    this.#send(reply);
  }

  /** Delivers `result` to every watch of `t` (each counts it); returns why they refused it. */
  #deliver(t: TypeState, result: DecodeResult): string[] {
    const errors: string[] = [];
    for (const w of t.watches) {
      const mine = filtered(result, w.names);
      // As Envoy's GrpcMuxImpl: a watch of named resources hears only of responses that
      // carry one of them (a wildcard watch hears of every one: an empty one removes all).
      if (mine.ok && w.names.length > 0 && mine.update.resources.length === 0) continue;
      const error = w.deliver(mine);
      if (error !== undefined) errors.push(error);
    }
    return errors;
  }

  #names(t: TypeState): string[] {
    const names = new Set<string>();
    for (const w of t.watches) for (const n of w.names) names.add(n);
    return [...names];
  }

  #send(request: SotwRequest): void {
    if (this.#first) {
      this.#first = false;
      this.send({ ...request, node: this.node });
    } else this.send(request);
  }
}

/** The part of `result` a watch of `names` asked for (all of it for a wildcard watch). */
function filtered(result: DecodeResult, names: readonly string[]): DecodeResult {
  if (names.length === 0 || !result.update) return result;
  const update = {
    ...result.update,
    resources: result.update.resources.filter((r) => names.includes(r.name)),
  };
  return result.ok ? { ok: true, update } : { ...result, update };
}
