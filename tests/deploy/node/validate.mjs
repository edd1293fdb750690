// Validates Kubernetes objects against the Kubernetes OpenAPI schemas, with the validators the
// npm package kubernetes-models generates from them (pinned in package-lock.json).
// Input: a JSON array of objects on stdin (tests/deploy/test_kubernetes.py renders the kustomize
// output and parses it). Output: a JSON array, one entry per object:
//   { "apiVersion", "kind", "name", "errors": ["/spec/...: must be integer", ...] }
// An apiVersion/kind the package has no model for is an error too (a typo, or a removed API).
import { readFileSync } from "node:fs";

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const obj of objects) {
  const { apiVersion = "", kind = "" } = obj ?? {};
  const name = obj?.metadata?.name ?? "";
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const module = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  let Model;
  try {
    Model = (await import(module))[kind];
  } catch (e) {
    results.push({ apiVersion, kind, name, errors: [`no schema for ${apiVersion} ${kind} (${e.code ?? e.message})`] });
    continue;
  }
  if (!Model) {
    results.push({ apiVersion, kind, name, errors: [`no schema for ${apiVersion} ${kind}`] });
    continue;
  }
  const errors = [];
  try {
    new Model(obj).validate();
  } catch (e) {
    for (const err of e.errors ?? [{ instancePath: "", message: e.message }]) {
      const params = err.params && Object.keys(err.params).length ? " " + JSON.stringify(err.params) : "";
      errors.push(`${err.instancePath || "/"}: ${err.message}${params}`);
    }
  }
  results.push({ apiVersion, kind, name, errors });
}
process.stdout.write(JSON.stringify(results) + "\n");
