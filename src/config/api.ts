/**
 * The Envoy v3 API at run time: one registry of every generated message, enum and extension,
 * built from the descriptor set that `deno task proto` writes next to the generated code.
 * Loading one binary set is much cheaper at start-up than importing the generated modules;
 * those are used for their types only (`import type`).
 */
import {
  createFileRegistry,
  type DescMessage,
  fromBinary,
  type Registry,
} from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { Message } from "@bufbuild/protobuf";

let registry: Registry | undefined;

/** The registry of every type of the Envoy v3 API (and its dependencies). */
export function apiRegistry(): Registry {
  if (!registry) {
    const url = new URL("../../proto/gen/envoy_api.binpb", import.meta.url);
    registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Deno.readFileSync(url)));
  }
  return registry;
}

/** Looks up a message type by full name; throws if the API has no such type. */
export function messageSchema<T extends Message>(typeName: string): GenMessage<T> {
  const desc = apiRegistry().getMessage(typeName);
  if (!desc) throw new Error(`Envoy API has no message type ${typeName}`);
  return desc as unknown as GenMessage<T>;
}

/** The full message name in a type URL such as `type.googleapis.com/envoy.x.v3.Y`. */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/** The message descriptor for a type URL, or undefined when the API does not know it. */
export function messageOfUrl(typeUrl: string): DescMessage | undefined {
  return apiRegistry().getMessage(typeNameOfUrl(typeUrl));
}
