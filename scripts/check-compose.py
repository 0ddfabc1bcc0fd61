#!/usr/bin/env python3
"""Structural check of docker-compose.yml for machines without a Docker engine (CI runs it).

`docker compose config -q` is the real validation where Docker exists; this checks what the
deployment relies on: the services, one port (10000), a password on Redis, scalable workers,
nginx as the only public entry, and the one-shot migration before the app services.
"""
import subprocess
import sys

try:
    import yaml
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pyyaml"])
    import yaml

doc = yaml.safe_load(open("docker-compose.yml"))
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
text = open("docker-compose.yml").read()
if "10000" not in text:
    problems.append("port 10000 not used")
for svc in ["api", "worker", "scheduler"]:
    deps = services.get(svc, {}).get("depends_on", {})
    if isinstance(deps, dict) and deps.get("migrate", {}).get("condition") != "service_completed_successfully":
        problems.append(f"{svc} must wait for migrate to complete")
if problems:
    print("docker-compose.yml:", *problems, sep="\n  ")
    sys.exit(1)
print(f"docker-compose.yml: {len(services)} services, structure ok")
