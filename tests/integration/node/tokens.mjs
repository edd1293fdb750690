// Test-only token factory built on the `jose` package (an independent JOSE implementation).
// Reads one JSON request per line on stdin, answers one JSON line on stdout:
//   {"op":"keypair","alg":"ES256","kid":"k1"}         -> {"private": JWK, "public": JWK}
//   {"op":"secret","kid":"h1","bytes":32}              -> {"public": {"kty":"oct","k":...}, "private": same}
//   {"op":"sign","alg":"ES256","key": JWK,"claims":{},"header":{}} -> {"token": "..."}
//   {"op":"spki","alg":"RS256","key": public JWK}      -> {"pem": "-----BEGIN PUBLIC KEY-----..."}
import * as jose from 'jose';
import readline from 'node:readline';
import crypto from 'node:crypto';

const crvFor = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let out;
  try {
    const req = JSON.parse(line);
    if (req.op === 'keypair') {
      const opts = { extractable: true };
      if (req.alg === 'EdDSA') opts.crv = 'Ed25519';
      if (req.alg.startsWith('RS') || req.alg.startsWith('PS')) opts.modulusLength = 2048;
      const { publicKey, privateKey } = await jose.generateKeyPair(req.alg, opts);
      const pub = await jose.exportJWK(publicKey);
      const priv = await jose.exportJWK(privateKey);
      pub.kid = priv.kid = req.kid;
      if (req.with_alg) pub.alg = req.alg;
      out = { public: pub, private: priv };
    } else if (req.op === 'secret') {
      const k = jose.base64url.encode(crypto.randomBytes(req.bytes || 32));
      const jwk = { kty: 'oct', k, kid: req.kid };
      out = { public: jwk, private: jwk };
    } else if (req.op === 'spki') {
      const key = await jose.importJWK(req.key, req.alg);
      out = { pem: await jose.exportSPKI(key) };
    } else if (req.op === 'sign') {
      const key = await jose.importJWK(req.key, req.alg);
      const header = Object.assign({ alg: req.alg }, req.header || {});
      if (req.key.kid && !('kid' in header)) header.kid = req.key.kid;
      const token = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(req.claims))).setProtectedHeader(header).sign(key);
      out = { token };
    } else {
      out = { error: 'unknown op' };
    }
  } catch (e) {
    out = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
