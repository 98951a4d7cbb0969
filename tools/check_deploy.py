#!/usr/bin/env python3
"""Checks what can be checked of the deployment files without a container engine or a cluster:
every YAML and JSON file under deploy/ parses (the Envoy configuration inside its ConfigMap
too), and the Dockerfile builds with the same scripts as CI (tools/install_deps.sh and
tools/build.sh, which tools/test.sh runs). That the dashboard's queries name metrics the server
exports is an integration test against a live server (tests/server_integration_test.cc).
    python3 tools/check_deploy.py
"""
import json
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def check_yaml(path):
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    if not documents:
        raise ValueError("no YAML document")
    for document in documents:
        if document.get("kind") == "ConfigMap":
            for key, value in document.get("data", {}).items():
                if key.endswith((".yaml", ".yml")):
                    yaml.safe_load(value)
    return len(documents)


def check_dockerfile():
    dockerfile = (ROOT / "Dockerfile").read_text()
    ci = (ROOT / "tools" / "test.sh").read_text()
    for script in ("tools/install_deps.sh", "tools/build.sh"):
        if script not in dockerfile or script not in ci:
            raise ValueError(f"the Dockerfile and tools/test.sh must both run {script}")


def main():
    failures = 0
    checked = 0
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            else:
                check_yaml(path)
            checked += 1
        except Exception as error:  # report every broken file, not just the first
            print(f"{path.relative_to(ROOT)}: {error}", file=sys.stderr)
            failures += 1
    try:
        check_dockerfile()
    except ValueError as error:
        print(f"Dockerfile: {error}", file=sys.stderr)
        failures += 1
    print(f"check_deploy: {checked} files parse; {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
