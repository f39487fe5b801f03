"""The Kubernetes manifests fit together and fit the app (schema validity is checked by
kubernetes-validate in .ci/run; these check what a schema cannot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def _docs() -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == files


def test_several_non_root_replicas_with_probes_the_app_serves() -> None:
    docs = _docs()
    deployment = docs[("Deployment", "imagecheck")]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"][0] == "serve"
    served = {"/healthz", "/readyz", "/metrics", "/slack/events"}
    assert container["livenessProbe"]["httpGet"]["path"] in served
    # a shared Redis outage must not take every replica out of the Service (the bot answers without it)
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]
    ports = {p["name"] for p in container["ports"]}
    service = docs[("Service", "imagecheck")]
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    labels = spec["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = docs[("PodDisruptionBudget", "imagecheck")]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_settings_come_from_the_configmap_and_secret_by_the_names_the_app_reads() -> None:
    docs = _docs()
    config = docs[("ConfigMap", "imagecheck")]["data"]
    assert config["REDIS_URL"].startswith("redis://imagecheck-redis:")
    assert yaml.safe_load(config["config.yaml"])["platforms"]
    secret = docs[("Secret", "imagecheck")]["stringData"]
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= set(secret)
    ingress = docs[("Ingress", "imagecheck")]
    paths = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
    assert paths == ["/slack"]  # /metrics stays internal
