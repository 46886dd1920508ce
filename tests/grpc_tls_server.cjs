// A grpc-js server over TLS for tests/upstream_h2_tls_test.ts, run by Node: Deno 2.9.6's
// node:http2 secure server fails the TLS handshake (curl: "excessive message size"), so the
// real grpc-js TLS stack runs where it was written for. Arguments: certificate chain and key
// (PEM files); prints the bound port on stdout, then serves until killed.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const grpc = require(path.join(__dirname, "..", "node_modules", "@grpc", "grpc-js"));

const id = (b) => b;
const method = (name, responseStream) => ({
  path: `/test.Echo/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const server = new grpc.Server();
server.addService({ unary: method("Unary", false), serverStream: method("ServerStream", true) }, {
  unary: (call, cb) => {
    const md = new grpc.Metadata();
    md.set("x-trailer", "t-" + call.request.toString());
    cb(null, Buffer.concat([Buffer.from("echo:"), call.request]), md);
  },
  serverStream: (call) => {
    for (let i = 0; i < 3; i++) call.write(Buffer.from(`m${i}`));
    call.end();
  },
});
const creds = grpc.ServerCredentials.createSsl(null, [{
  cert_chain: fs.readFileSync(process.argv[2]),
  private_key: fs.readFileSync(process.argv[3]),
}]);
server.bindAsync("127.0.0.1:0", creds, (err, port) => {
  if (err) throw err;
  process.stdout.write(`${port}\n`);
});
