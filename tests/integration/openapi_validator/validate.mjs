// Validates an OpenAPI document (JSON on stdin) with @seriousme/openapi-schema-validator (pinned
// in package-lock.json): prints {"valid": bool, "version": "3.1", "errors": [...]}.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";

const doc = JSON.parse(readFileSync(0, "utf8"));
const validator = new Validator();
const result = await validator.validate(doc);
console.log(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.errors ?? [] }));
