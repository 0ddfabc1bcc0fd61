#!/usr/bin/env bash
# Validates the OpenAPI document with a third-party validator (openapi-spec-validator, from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import openapi_spec_validator' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator
cargo run --quiet -p router-api -- openapi > target/openapi.json
python3 - <<'PY'
import json
from openapi_spec_validator import validate
doc = json.load(open("target/openapi.json"))
validate(doc)
print(f"openapi.json is valid OpenAPI {doc['openapi']} ({len(doc['paths'])} paths)")
PY
