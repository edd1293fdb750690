#!/usr/bin/env node
// The @grpc/grpc-js client of the gRPC proxying tests: a second, independent gRPC stack running
// the same interop cases as tests/grpc/client.py (gRPC's doc/interop-test-descriptions.md),
// with the protos loaded at run time by @grpc/proto-loader.
//
//   node tests/grpc/node/client.js --target 127.0.0.1:PORT [--ca CA.pem --server-name NAME] [--cases a,b]
//
// Prints one JSON object {case: {ok, detail}}; exit status 0 when every case passed.
'use strict';
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTOS = path.join(__dirname, '..', 'protos');
const MAX_MESSAGE = 16 * 1024 * 1024;
const LARGE = 4 * 1024 * 1024;
const DEADLINE_MS = 30000;
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';
const SPECIAL_MESSAGE = '\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n';
const SIZES = [[27182, 31415], [8, 9], [1828, 2653], [45904, 58979]];
const CASES = ['empty_unary', 'large_unary', 'client_streaming', 'server_streaming', 'ping_pong', 'empty_stream',
  'custom_metadata', 'status_code_and_message', 'special_status_message', 'unimplemented_method',
  'unimplemented_service', 'timeout_on_sleeping_server', 'cancel_after_begin', 'cancel_after_first_response',
  'health_check'];

function args() {
  const a = { cases: CASES.join(',') };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, '').replace(/-/g, '_')] = argv[i + 1];
  if (!a.target) throw new Error('--target is required');
  return a;
}

function check(cond, what) { if (!cond) throw new Error(what); }
const payload = (n) => ({ body: Buffer.alloc(n) });
const deadline = (ms = DEADLINE_MS) => ({ deadline: Date.now() + ms });

// A unary call as a promise of { response, metadata, status } or a rejection with the ServiceError.
function unary(client, method, request, metadata = new grpc.Metadata(), options = deadline()) {
  return new Promise((resolve, reject) => {
    let initial = null;
    const call = client[method](request, metadata, options, (err, response) => {
      if (err) reject(err);
      else call.on('status', (status) => resolve({ response, initial, status }));
    });
    call.on('metadata', (md) => { initial = md; });
  });
}

// Reads a stream call to its end: { responses, initial, status } (status.code may be non-OK).
function drain(call) {
  return new Promise((resolve) => {
    const responses = [];
    let initial = null;
    let error = null;
    call.on('metadata', (md) => { initial = md; });
    call.on('data', (r) => responses.push(r));
    call.on('error', (e) => { error = e; });
    call.on('status', (status) => resolve({ responses, initial, status, error }));
  });
}

async function expectStatus(promise, code, message) {
  try {
    await promise;
  } catch (e) {
    check(e.code === code, `status ${e.code} (${JSON.stringify(e.details)}), wanted ${code}`);
    check(message === undefined || e.details === message, `message ${JSON.stringify(e.details)}, wanted ${JSON.stringify(message)}`);
    return;
  }
  throw new Error(`no error, wanted ${code}`);
}

function checkStatus(status, code, message) {
  check(status.code === code, `status ${status.code} (${JSON.stringify(status.details)}), wanted ${code}`);
  check(message === undefined || status.details === message, `message ${JSON.stringify(status.details)}, wanted ${JSON.stringify(message)}`);
}

function nextMessage(call) {
  return new Promise((resolve, reject) => {
    call.once('data', resolve);
    call.once('error', reject);
  });
}

function makeCases(t, u, control, health) {
  const echoMetadata = () => {
    const md = new grpc.Metadata();
    md.set(ECHO_INITIAL, 'test_initial_metadata_value');
    md.set(ECHO_TRAILING, Buffer.from([0xab, 0xab, 0xab]));
    return md;
  };
  const checkEcho = (initial, trailing) => {
    check(initial && initial.get(ECHO_INITIAL)[0] === 'test_initial_metadata_value', 'initial metadata');
    const bin = trailing.get(ECHO_TRAILING)[0];
    check(Buffer.isBuffer(bin) && bin.equals(Buffer.from([0xab, 0xab, 0xab])), 'trailing metadata');
  };
  const statusCase = async (message) => {
    const s = { code: 2, message };
    await expectStatus(unary(t, 'UnaryCall', { response_status: s }), grpc.status.UNKNOWN, message);
    const call = t.FullDuplexCall(deadline());
    call.write({ response_status: s });
    call.end();
    checkStatus((await drain(call)).status, grpc.status.UNKNOWN, message);
  };
  return {
    async empty_unary() {
      await unary(t, 'EmptyCall', {});
    },
    async large_unary() {
      const { response } = await unary(t, 'UnaryCall', { response_size: LARGE, payload: payload(LARGE) });
      check(response.payload.body.length === LARGE && response.payload.body.every((b) => b === 0), `response body of ${response.payload.body.length} bytes`);
    },
    async client_streaming() {
      const r = await new Promise((resolve, reject) => {
        const call = t.StreamingInputCall(deadline(), (err, res) => (err ? reject(err) : resolve(res)));
        for (const [n] of SIZES) call.write({ payload: payload(n) });
        call.end();
      });
      check(r.aggregated_payload_size === 74922, `aggregated ${r.aggregated_payload_size}`);
    },
    async server_streaming() {
      const call = t.StreamingOutputCall({ response_parameters: SIZES.map(([, n]) => ({ size: n })) }, deadline());
      const { responses, status } = await drain(call);
      checkStatus(status, grpc.status.OK);
      const got = responses.map((r) => r.payload.body.length);
      check(JSON.stringify(got) === JSON.stringify(SIZES.map(([, n]) => n)), `response sizes ${got}`);
    },
    async ping_pong() {
      const call = t.FullDuplexCall(deadline());
      const done = drain(call);
      for (const [size, responseSize] of SIZES) {
        const next = nextMessage(call);
        call.write({ response_parameters: [{ size: responseSize }], payload: payload(size) });
        const r = await next;
        check(r.payload.body.length === responseSize, `response of ${r.payload.body.length} bytes, wanted ${responseSize}`);
      }
      call.end();
      const { responses, status } = await done;
      checkStatus(status, grpc.status.OK);
      check(responses.length === SIZES.length, `${responses.length} responses`);
    },
    async empty_stream() {
      const call = t.FullDuplexCall(deadline());
      call.end();
      const { responses, status } = await drain(call);
      checkStatus(status, grpc.status.OK);
      check(responses.length === 0, 'responses to no request');
    },
    async custom_metadata() {
      const { initial, status } = await unary(t, 'UnaryCall', { response_size: 314159, payload: payload(271828) }, echoMetadata());
      checkEcho(initial, status.metadata);
      const call = t.FullDuplexCall(echoMetadata(), deadline());
      call.write({ response_parameters: [{ size: 314159 }], payload: payload(271828) });
      call.end();
      const d = await drain(call);
      checkStatus(d.status, grpc.status.OK);
      check(d.responses.length === 1 && d.responses[0].payload.body.length === 314159, 'full duplex response');
      checkEcho(d.initial, d.status.metadata);
    },
    async status_code_and_message() { await statusCase('test status message'); },
    async special_status_message() { await statusCase(SPECIAL_MESSAGE); },
    async unimplemented_method() {
      await expectStatus(unary(t, 'UnimplementedCall', {}), grpc.status.UNIMPLEMENTED);
    },
    async unimplemented_service() {
      await expectStatus(unary(u, 'UnimplementedCall', {}), grpc.status.UNIMPLEMENTED);
    },
    async timeout_on_sleeping_server() {
      const call = t.FullDuplexCall(deadline(50));
      call.write({ payload: payload(27182) });
      checkStatus((await drain(call)).status, grpc.status.DEADLINE_EXCEEDED);
      await expectStatus(unary(control, 'Sleep', { millis: 5000 }, new grpc.Metadata(), deadline(500)), grpc.status.DEADLINE_EXCEEDED);
    },
    async cancel_after_begin() {
      let call;
      const done = new Promise((resolve) => {
        call = t.StreamingInputCall(deadline(), (err) => resolve(err));
      });
      call.cancel();
      const err = await done;
      check(err && err.code === grpc.status.CANCELLED, `status ${err && err.code}`);
    },
    async cancel_after_first_response() {
      const call = t.FullDuplexCall(deadline());
      const done = drain(call);
      const first = nextMessage(call);
      call.write({ response_parameters: [{ size: 31415 }], payload: payload(27182) });
      check((await first).payload.body.length === 31415, 'first response');
      call.cancel();
      checkStatus((await done).status, grpc.status.CANCELLED);
    },
    async health_check() {
      const { response } = await unary(health, 'Check', { service: 'grpc.testing.TestService' });
      check(response.status === 'SERVING', `health status ${response.status}`);
      await expectStatus(unary(health, 'Check', { service: 'no.such.Service' }), grpc.status.NOT_FOUND);
    },
  };
}

async function main() {
  const a = args();
  const def = protoLoader.loadSync(['test.proto', 'control.proto', 'health.proto'],
    { includeDirs: [PROTOS], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  const proto = grpc.loadPackageDefinition(def);
  let creds = grpc.credentials.createInsecure();
  const options = { 'grpc.max_receive_message_length': MAX_MESSAGE, 'grpc.max_send_message_length': MAX_MESSAGE };
  if (a.ca) {
    creds = grpc.credentials.createSsl(fs.readFileSync(a.ca));
    if (a.server_name) options['grpc.ssl_target_name_override'] = a.server_name;
  }
  const mk = (Ctor) => new Ctor(a.target, creds, options);
  const cases = makeCases(mk(proto.grpc.testing.TestService), mk(proto.grpc.testing.UnimplementedService),
    mk(proto.gatehouse.testing.Control), mk(proto.grpc.health.v1.Health));
  const out = {};
  for (const name of a.cases.split(',').filter(Boolean)) {
    try {
      if (!cases[name]) throw new Error('no such case');
      await cases[name]();
      out[name] = { ok: true, detail: '' };
    } catch (e) {
      out[name] = { ok: false, detail: String(e && e.message ? e.message : e) };
    }
  }
  console.log(JSON.stringify(out, null, 1));
  process.exit(Object.values(out).every((v) => v.ok) ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(2); });
