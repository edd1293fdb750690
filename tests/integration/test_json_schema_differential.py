"""gatehouse's JSON Schema validator against an independent one (python3-jsonschema's
Draft202012Validator) on generated documents: the same verdict for every document.

The schemas cover every keyword gatehouse evaluates; the documents come from a seeded generator
that draws values near each schema's boundaries (lengths, bounds, property names the schema
mentions), so that both verdicts occur often. gatehouse's side is the test-only executable
gatehouse_json_schema_eval (tests/unit/json_schema_eval.cpp)."""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

sys.path.append("/usr/lib/python3/dist-packages")
import jsonschema  # noqa: E402  (python3-jsonschema, .ci/install-deps)

EVAL = os.environ.get("GATEHOUSE_JSON_SCHEMA_EVAL", "")

SCHEMAS = [
    {"type": "object", "required": ["id", "name"], "additionalProperties": False,
     "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 100},
                    "name": {"type": "string", "minLength": 1, "maxLength": 4},
                    "tag": {"type": ["string", "null"], "pattern": "^[a-c]+$"}}},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
     "items": {"type": "boolean"}, "minItems": 1, "maxItems": 4},
    {"type": "array", "contains": {"type": "integer", "exclusiveMinimum": 2}, "minContains": 2,
     "maxContains": 3, "uniqueItems": True},
    {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer", "multipleOf": 3}]},
    {"oneOf": [{"type": "integer", "multipleOf": 2}, {"type": "integer", "multipleOf": 3}]},
    {"not": {"enum": [1, "a", None, [1, 2], {"a": 1}]}},
    {"const": {"a": [1, 2.0, {"b": None}]}},
    {"if": {"properties": {"kind": {"const": "a"}}, "required": ["kind"]},
     "then": {"required": ["id"]}, "else": {"required": ["name"]}},
    {"type": "object", "patternProperties": {"^x-": {"type": "string"}, "^[0-9]+$": {"type": "integer"}},
     "additionalProperties": {"type": "boolean"}, "propertyNames": {"maxLength": 4},
     "minProperties": 1, "maxProperties": 3},
    {"type": "object", "dependentRequired": {"id": ["name"]},
     "dependentSchemas": {"tag": {"properties": {"name": {"minLength": 2}}}}},
    {"allOf": [{"properties": {"id": {"type": "integer"}}}, {"properties": {"name": {"type": "string"}}}],
     "unevaluatedProperties": False},
    {"prefixItems": [{"type": "integer"}], "contains": {"type": "string"}, "unevaluatedItems": False},
    {"$defs": {"node": {"type": "object", "properties": {"id": {"type": "integer"},
                                                          "x-children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                        "required": ["id"]}},
     "$ref": "#/$defs/node"},
    {"type": "number", "exclusiveMaximum": 10.5, "minimum": -2, "multipleOf": 0.5},
    {"type": "string", "pattern": "^(a|b)*c?$", "minLength": 2},
    {"anyOf": [{"properties": {"id": {"const": 1}}}, {"properties": {"name": {"const": "a"}}}],
     "unevaluatedProperties": {"type": "integer"}},
]


def names_in(schema, out):
    if isinstance(schema, dict):
        for key in ("properties", "patternProperties", "dependentRequired", "dependentSchemas"):
            if isinstance(schema.get(key), dict):
                out.update(k for k in schema[key] if not k.startswith("^"))
        for key in ("required",):
            out.update(schema.get(key, []))
        for v in schema.values():
            names_in(v, out)
    elif isinstance(schema, list):
        for v in schema:
            names_in(v, out)
    return out


def value(rng, names, depth=0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randrange(-3, 12)
    if kind == 3:
        return rng.choice([0.5, 1.0, 2.5, 3.0, 10.5, 11.0, -2.0, -2.5, 6.0, 1e300])
    if kind in (4, 5):
        return "".join(rng.choice("abcx-09") for _ in range(rng.randrange(6)))
    if kind in (6, 7):
        return {rng.choice(names): value(rng, names, depth + 1) for _ in range(rng.randrange(5))}
    return [value(rng, names, depth + 1) for _ in range(rng.randrange(6))]


class DifferentialTest(unittest.TestCase):
    def test_same_verdict_as_python_jsonschema(self):
        self.assertTrue(EVAL and os.path.exists(EVAL), "GATEHOUSE_JSON_SCHEMA_EVAL must name the test executable")
        rng = random.Random(20261207)
        compared = {True: 0, False: 0}
        for index, schema in enumerate(SCHEMAS):
            jsonschema.Draft202012Validator.check_schema(schema)
            oracle = jsonschema.Draft202012Validator(schema)
            names = sorted(names_in(schema, set()) | {"x-a", "12", "other", "kind"})
            docs = [value(rng, names) for _ in range(400)]
            # Documents built to match the schema's own names often, so that objects pass too.
            docs += [{n: value(rng, names, 2) for n in rng.sample(names, rng.randrange(1, 4))} for _ in range(200)]
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "schema.json")
                with open(path, "w") as f:
                    json.dump(schema, f)
                out = subprocess.run([EVAL, path], input="".join(json.dumps(d) + "\n" for d in docs),
                                     capture_output=True, text=True, check=True).stdout.split()
            self.assertEqual(len(out), len(docs))
            for doc, verdict in zip(docs, out):
                expected = oracle.is_valid(doc)
                self.assertEqual(verdict == "1", expected,
                                 f"schema {index} {json.dumps(schema)}\ndocument {json.dumps(doc)}")
                compared[expected] += 1
        print(f"compared {compared[True]} valid and {compared[False]} invalid documents")
        # Both verdicts must occur often, or the generator tests nothing.
        self.assertGreater(compared[True], 1000)
        self.assertGreater(compared[False], 1000)


if __name__ == "__main__":
    unittest.main()
