/**
 * The few `@grpc/grpc-js` types the gRPC tests use. The package's own typings pull in an
 * `@types/node` (through protobufjs) that conflicts with Deno's node types, so the tests import
 * it with these instead (`@ts-types`).
 */
// deno-lint-ignore-file no-explicit-any
export const status: Record<string, number>;
export class Metadata {
  set(key: string, value: string): void;
  get(key: string): unknown[];
}
export interface ServiceError extends Error {
  code: number;
  details: string;
  metadata: Metadata;
}
export interface StatusObject {
  code: number;
  details: string;
  metadata: Metadata;
}
export interface CallOptions {
  deadline?: number | Date;
}
export type ServiceDefinition = Record<string, unknown>;
export class Server {
  addService(service: ServiceDefinition, impl: Record<string, (...args: any[]) => void>): void;
  bindAsync(address: string, creds: unknown, cb: (err: Error | null, port: number) => void): void;
  forceShutdown(): void;
}
export const ServerCredentials: {
  createInsecure(): unknown;
  createSsl(
    rootCerts: Uint8Array | null,
    keyCertPairs: { private_key: Uint8Array; cert_chain: Uint8Array }[],
  ): unknown;
};
export const credentials: { createInsecure(): unknown };
export class Client {
  constructor(address: string, creds: unknown);
  makeUnaryRequest(
    path: string,
    serialize: (v: any) => any,
    deserialize: (v: any) => any,
    request: unknown,
    cb: (err: ServiceError | null, value?: any) => void,
  ): unknown;
  close(): void;
}
export function makeGenericClientConstructor(
  service: ServiceDefinition,
  name: string,
): new (address: string, creds: unknown) => any;
