#!/usr/bin/env python3
"""Structural check of docker-compose.yml for machines without a Docker engine (CI runs it).

`docker compose config -q` is the real validation where Docker exists; this checks what the
deployment relies on: the services, one port (10000), a password on Redis, scalable workers,
nginx as the only public entry, the one-shot migration before the app services, and two
security properties (docs/SECURITY.md):

* the sandbox (fake-graph, whose unauthenticated inbound simulator signs any webhook) never gets
  the live IG_APP_SECRET, here or in scripts/dev-up.sh: it signs with SANDBOX_IG_APP_SECRET, and
  the live hosts (Graph, OAuth) are not pointed at it;
* the API logs in with its own role (DATABASE_APP_URL), not the Postgres superuser.

Usage: check-compose.py [compose-file [dev-up-script]] (defaults: the repository's own).
"""
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pyyaml"])
    import yaml

compose_path = sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml"
dev_up_path = sys.argv[2] if len(sys.argv) > 2 else "scripts/dev-up.sh"
doc = yaml.safe_load(open(compose_path))
services = doc["services"]
problems = []
for name in ["postgres", "redis", "migrate", "api", "worker", "scheduler", "prometheus", "grafana", "nginx", "fake-graph"]:
    if name not in services:
        problems.append(f"missing service {name}")
worker = services.get("worker", {})
if "container_name" in worker or worker.get("ports"):
    problems.append("worker must not have a container_name or published ports (docker compose up --scale worker=N)")
if services.get("api", {}).get("ports"):
    problems.append("api must not publish ports; nginx is the entry point")
redis_cmd = " ".join(map(str, services.get("redis", {}).get("command", [])) if isinstance(services.get("redis", {}).get("command"), list) else [str(services.get("redis", {}).get("command", ""))])
if "requirepass" not in redis_cmd:
    problems.append("redis must require a password")
nginx_ports = " ".join(map(str, services.get("nginx", {}).get("ports", [])))
if "443" not in nginx_ports:
    problems.append("nginx must publish 443")
text = open(compose_path).read()
if "10000" not in text:
    problems.append("port 10000 not used")
for svc in ["api", "worker", "scheduler"]:
    deps = services.get(svc, {}).get("depends_on", {})
    if isinstance(deps, dict) and deps.get("migrate", {}).get("condition") != "service_completed_successfully":
        problems.append(f"{svc} must wait for migrate to complete")

# The live app secret, as a variable reference: `IG_APP_SECRET` not preceded by `SANDBOX_`.
LIVE_SECRET = re.compile(r"(?<![A-Za-z0-9_])IG_APP_SECRET")
fake = services.get("fake-graph", {})
if "env_file" in fake:
    problems.append("fake-graph must not load env_file (.env holds IG_APP_SECRET)")
fake_env = fake.get("environment", {}) or {}
if isinstance(fake_env, list):
    fake_env = dict(e.split("=", 1) if "=" in e else (e, "") for e in fake_env)
for key, value in fake_env.items():
    if LIVE_SECRET.search(str(key)) or LIVE_SECRET.search(str(value)):
        problems.append(f"fake-graph must never get IG_APP_SECRET (environment {key})")
if "SANDBOX_IG_APP_SECRET" not in str(fake_env.get("FAKE_GRAPH_APP_SECRET", "")):
    problems.append("fake-graph must sign with SANDBOX_IG_APP_SECRET (FAKE_GRAPH_APP_SECRET)")
for line in open(dev_up_path):
    if "FAKE_GRAPH_APP_SECRET" in line and LIVE_SECRET.search(line):
        problems.append(f"{dev_up_path} gives fake-graph the live IG_APP_SECRET: {line.strip()}")

api_env = services.get("api", {}).get("environment", {}) or {}
for var in ["GRAPH_API_BASE_URL", "INSTAGRAM_OAUTH_BASE_URL", "INSTAGRAM_AUTHORIZE_URL"]:
    if isinstance(api_env, dict) and "fake-graph" in str(api_env.get(var, "")):
        problems.append(f"{var} must not point at fake-graph: live tokens and IG_APP_SECRET would reach the sandbox")
app_url = str(api_env.get("DATABASE_APP_URL", "")) if isinstance(api_env, dict) else ""
superuser = str((services.get("postgres", {}).get("environment", {}) or {}).get("POSTGRES_USER", "postgres"))
if not app_url:
    problems.append("api must set DATABASE_APP_URL (a dedicated login role, deploy/postgres/app-role.sql)")
elif re.match(r"postgres(ql)?://" + re.escape(superuser) + r"[:@]", app_url):
    problems.append(f"api's DATABASE_APP_URL must not log in as the superuser {superuser}")

if problems:
    print(f"{compose_path}:", *problems, sep="\n  ")
    sys.exit(1)
print(f"{compose_path}: {len(services)} services, structure ok")
