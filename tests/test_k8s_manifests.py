"""The Kubernetes manifests (deploy/k8s) render, pass the Kubernetes schemas, and agree with the code and compose.

There is no cluster here. Each kustomization is rendered by the small subset of kustomize below (resources,
components, namespace, images and RFC 6902 patches; anything else fails loudly), which is compared with
`kubectl kustomize` where kubectl is installed. Every rendered resource is validated with kubernetes-validate in
strict mode against the Kubernetes versions below; KEDA's resources have no schema there and are checked by hand.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version
from prometheus_client.parser import text_string_to_metric_families

from service import create_app
from service.core.settings import Settings
from service.infra.celery_app import QUEUE
from service.infra.migrate import upgrade
from tests.support.settings import ROOT, make_settings

K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "production"
SECRETS_EXAMPLE = OVERLAY / "secrets.example.yaml"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

# The oldest Kubernetes release these manifests are meant for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", latest_version())
# Custom resources: no schema in kubernetes-validate, so checked field by field below.
CRD_GROUPS = ("keda.sh",)

# The overlay as shipped (KEDA), and with the one-line change docs/deploy.md describes for the HPA instead.
VARIANTS = {"keda": None, "hpa": ["../../components/hpa"]}

SERVING = ("web", "worker", "beat")
WORKLOADS = {
    "web": ("Deployment", "triage-web"),
    "worker": ("Deployment", "triage-worker"),
    "beat": ("Deployment", "triage-beat"),
    "migrate": ("Job", "triage-migrate"),
    "train": ("CronJob", "triage-train"),
}
WORKLOADS_KINDS = {kind for kind, _ in WORKLOADS.values()}
MODELS_CLAIM = "triage-models"


# -- a subset of kustomize -------------------------------------------------------------------------------------

KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "components", "namespace", "images", "patches"}


def build(directory: Path, docs: list[dict] | None = None, components: list[str] | None = None) -> list[dict]:
    """Render a Kustomization, or add a Component to `docs` (the resources accumulated so far)."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - KUSTOMIZATION_FIELDS
    assert not unknown, f"{directory}: this test's renderer does not implement {sorted(unknown)}"
    docs = [] if docs is None else docs
    for entry in spec.get("resources", []):
        path = directory / entry
        docs = docs + (build(path) if path.is_dir() else load_all(path))
    for entry in spec.get("components", []) if components is None else components:
        docs = build(directory / entry, docs)
    for patch in spec.get("patches", []):
        apply_patch(docs, patch, directory)
    if "namespace" in spec:
        for doc in docs:
            doc["metadata"]["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        set_image(docs, image)
    return docs


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def apply_patch(docs: list[dict], patch: dict, directory: Path) -> None:
    """An RFC 6902 patch on the resources its target names (kind and name only)."""
    assert set(patch) <= {"target", "patch", "path"} and set(patch["target"]) <= {"kind", "name"}, patch
    ops = yaml.safe_load(patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text())
    assert isinstance(ops, list), f"only RFC 6902 patches are rendered here, not {ops!r}"
    targets = [
        d
        for d in docs
        if d["kind"] == patch["target"].get("kind", d["kind"])
        and d["metadata"]["name"] == patch["target"].get("name", d["metadata"]["name"])
    ]
    assert targets, f"patch target {patch['target']} matches nothing"
    for doc in targets:
        for op in ops:
            json_patch(doc, op)


def json_patch(doc: Any, op: dict) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op["op"] == "add":
            node.insert(index, op["value"])
        elif op["op"] == "replace":
            node[index] = op["value"]
        elif op["op"] == "remove":
            del node[index]
        else:
            raise AssertionError(f"unsupported patch op {op['op']}")
    elif op["op"] == "add":
        node[last] = op["value"]
    elif op["op"] == "replace":
        assert last in node, f"replace of a missing {op['path']}"
        node[last] = op["value"]
    elif op["op"] == "remove":
        del node[last]
    else:
        raise AssertionError(f"unsupported patch op {op['op']}")


def set_image(node: Any, image: dict) -> None:
    """kustomize's `images`: rename and retag every container and init container that runs `name`."""
    if isinstance(node, list):
        for item in node:
            set_image(item, image)
    elif isinstance(node, dict):
        for key in ("containers", "initContainers"):
            for container in node.get(key, []):
                name, tag = container["image"], ""
                if ":" in name.rsplit("/", 1)[-1]:  # a tag, not a registry's port
                    name, tag = name.rsplit(":", 1)
                if name == image["name"]:
                    tag = image.get("newTag", tag)
                    container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")
        for value in node.values():
            set_image(value, image)


def render(variant: str) -> list[dict]:
    return build(OVERLAY, components=VARIANTS[variant])


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def variant_docs(variant) -> list[dict]:
    """The overlay as rendered in each variant: for what the choice of autoscaler could change."""
    return render(variant)


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    """The overlay as shipped."""
    return render("keda")


def find(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def workload(docs: list[dict], role: str) -> dict:
    return find(docs, *WORKLOADS[role])


def containers(spec: dict) -> Iterator[dict]:
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def main_container(docs: list[dict], role: str) -> dict:
    """The container named after its role (the web pod also runs the ops app beside it)."""
    (container,) = [c for c in pod_spec(workload(docs, role))["containers"] if c["name"] == role]
    return container


def config_map(docs: list[dict], name: str = "triage-config") -> dict[str, str]:
    return find(docs, "ConfigMap", name)["data"]


def example_secrets() -> dict[str, dict[str, str]]:
    return {doc["metadata"]["name"]: doc["stringData"] for doc in load_all(SECRETS_EXAMPLE)}


# -- rendering and schemas --------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_the_renderer_here_agrees_with_kubectl_kustomize(variant, tmp_path):
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / OVERLAY.relative_to(K8S)
    if VARIANTS[variant] is not None:
        spec = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        spec["components"] = VARIANTS[variant]
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump(spec))
    out = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    by_kubectl = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout) if d}
    by_us = {(d["kind"], d["metadata"]["name"]): d for d in render(variant)}
    assert by_us.keys() == by_kubectl.keys()
    for key, doc in by_us.items():
        assert doc == by_kubectl[key], key


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_resource_passes_the_kubernetes_schema_in_strict_mode(variant_docs, version):
    checked = []
    for doc in variant_docs + load_all(SECRETS_EXAMPLE):
        if doc["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {where}: {exc.message}")
        checked.append(doc["kind"])
    assert {"Deployment", "Job", "CronJob", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service"} <= set(checked)


def test_the_overlay_renders_every_workload_in_one_namespace_from_one_image(variant_docs):
    for role in WORKLOADS:
        workload(variant_docs, role)
    assert {d["metadata"]["namespace"] for d in variant_docs} == {"triage"}
    images = {
        c["image"]
        for d in variant_docs
        if d["kind"] in ("Deployment", "Job", "CronJob")
        for c in containers(pod_spec(d))
    }
    assert images == {"registry.example.com/triage:0.1.0"}


# -- the same processes as docker-compose.yml -------------------------------------------------------------------


def test_containers_run_the_commands_and_image_of_docker_compose(docs):
    services = COMPOSE["services"]
    for role in ("web", "worker", "beat", "migrate", "train"):
        assert main_container(docs, role)["command"] == services[role]["command"], role
    # compose's `ops` service runs in each web pod, beside the web server.
    (ops,) = [c for c in pod_spec(workload(docs, "web"))["containers"] if c["name"] == "ops"]
    assert ops["command"] == services["ops"]["command"]
    base_images = {c["image"] for d in build(BASE) if d["kind"] in WORKLOADS_KINDS for c in containers(pod_spec(d))}
    assert base_images == {services["web"]["image"].split(":")[0]}
    # The serving image has no torch: the training job trains the baseline family, on data the image holds.
    train = main_container(docs, "train")["command"]
    assert train[:2] == ["triage", "train"] and train[train.index("--family") + 1] == "baseline"
    assert all((ROOT / train[i + 1]).is_file() for i, arg in enumerate(train) if arg in ("--data", "--test"))


def test_web_serves_on_the_port_granian_listens_on(docs):
    web = main_container(docs, "web")
    port = int(web["command"][web["command"].index("--port") + 1])
    assert [p["containerPort"] for p in web["ports"]] == [port]
    service = find(docs, "Service", "triage-web")
    assert service["spec"]["selector"].items() <= pod_labels(workload(docs, "web")).items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [web["ports"][0]["name"]]


def pod_labels(doc: dict) -> dict:
    return doc["spec"]["template"]["metadata"]["labels"]


def test_worker_weighs_a_fraction_of_web_cpu_as_compose_cpu_shares_do(docs):
    """RELIABILITY.md, "Load": on shared cores the intake answers first when the workers weigh less."""
    web, worker = main_container(docs, "web"), main_container(docs, "worker")
    ratio = cpu(worker["resources"]["requests"]["cpu"]) / cpu(web["resources"]["requests"]["cpu"])
    assert ratio == COMPOSE["services"]["worker"]["cpu_shares"] / 1024


def cpu(quantity: str | int) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]]


def test_every_container_requests_and_limits_cpu_and_memory(variant_docs):
    for doc in variant_docs:
        if doc["kind"] not in WORKLOADS_KINDS:
            continue
        for container in containers(pod_spec(doc)):
            resources = container["resources"]
            name = f"{doc['metadata']['name']}/{container['name']}"
            assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, name
            assert cpu(resources["requests"]["cpu"]) <= cpu(resources["limits"]["cpu"]), name
            assert memory(resources["requests"]["memory"]) <= memory(resources["limits"]["memory"]), name


def test_pods_run_as_the_image_user_without_api_access_or_service_link_variables(docs):
    # The Dockerfile's `useradd` makes the first user of the image, uid 1000.
    assert "useradd --create-home triage" in (ROOT / "Dockerfile").read_text()
    for role in WORKLOADS:
        spec = pod_spec(workload(docs, role))
        assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] == 1000, role
        assert spec["automountServiceAccountToken"] is False, role
        # Service links would add TRIAGE_WEB_* variables beside the TRIAGE_ settings.
        assert spec["enableServiceLinks"] is False, role
        for container in containers(spec):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, role
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, role
        # Python's tempfile and beat's schedule write to /tmp, a volume of its own.
        assert all("/tmp" in {m["mountPath"] for m in c["volumeMounts"]} for c in spec["containers"]), role


def test_beat_runs_exactly_once(docs):
    beat = workload(docs, "beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert all(target(d) != "triage-beat" for d in docs if d["kind"] in ("ScaledObject", "HorizontalPodAutoscaler"))


# -- probes and what is published -------------------------------------------------------------------------------

# What each WSGI entry point a container serves builds (service/wsgi.py, service/wsgi_ops.py).
ENTRY_POINTS = {"service.wsgi:app": {}, "service.wsgi_ops:app": {"ops_only": True}}
# ASGI entry points that serve a WSGI one (service/asgi_ops.py: the ops app behind its tarpit).
WRAPPERS = {"service.asgi_ops:app": "service.wsgi_ops:app"}
# Not Celery's in-memory broker, so the apps are not embedded and gate their ops endpoints as in the cluster;
# kombu's filesystem transport answers at once, without a server.
SERVERLESS_BROKER = "filesystem://"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    """entry point -> the app it serves, built from the test settings with a broker that is not embedded."""
    tmp = tmp_path_factory.mktemp("k8s")
    url = f"sqlite:///{tmp / 'triage.db'}"
    upgrade(url)
    settings = make_settings(url, tmp / "models", drafting_model="none", broker_url=SERVERLESS_BROKER)
    built = {entry: create_app(settings, environ={}, **kwargs) for entry, kwargs in ENTRY_POINTS.items()}
    # The broker's queue depth is only reported when the broker answers: Celery's in-memory one does.
    built["embedded"] = create_app(settings.replace(broker_url="memory://"), environ={})
    yield built
    for app in built.values():
        app.extensions["triage"].db.dispose()


def served_by(spec: dict, port: str | int) -> str:
    """The WSGI entry point of the container in the pod that listens on `port` (a name or a number)."""
    (container,) = [c for c in spec["containers"] if port in {p[k] for p in c.get("ports", []) for k in p}]
    command = container["command"]
    assert command[0] == "granian" and command[-1] in (*ENTRY_POINTS, *WRAPPERS), command
    entry = command[-1]
    if entry in WRAPPERS:
        assert f"from {WRAPPERS[entry].split(':')[0]} import app" in source_of(entry), entry
        assert command[command.index("--interface") + 1] == "asgi", command
        entry = WRAPPERS[entry]
    # ...and that module builds its app the way the `apps` fixture does.
    assert all(f"{k}={v!r}" in source_of(entry) for k, v in ENTRY_POINTS[entry].items()), entry
    return entry


def source_of(entry: str) -> str:
    found = importlib.util.find_spec(entry.split(":")[0])
    assert found is not None and found.origin, entry
    return Path(found.origin).read_text()


def test_every_probe_gets_an_answer_from_the_app_behind_its_port_without_credentials(docs, apps):
    spec = pod_spec(workload(docs, "web"))
    probes = [(c["name"], kind, c[kind]["httpGet"]) for c in spec["containers"] for kind in PROBES if kind in c]
    web = {kind: get["path"] for name, kind, get in probes if name == "web"}
    assert web == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for name, kind, get in probes:
        app = apps[served_by(spec, get["port"])]
        status = app.test_client().get(get["path"]).status_code
        assert status == 200, f"{name} {kind} GET {get['path']} on port {get['port']}: {status}"


def test_prometheus_scrapes_the_port_that_serves_metrics(docs, apps):
    web = workload(docs, "web")
    annotations = web["spec"]["template"]["metadata"]["annotations"]
    app = apps[served_by(pod_spec(web), int(annotations["prometheus.io/port"]))]
    assert app.test_client().get(annotations["prometheus.io/path"]).status_code == 200


def routes(app) -> dict[str, str]:
    """URL rule -> endpoint, with each variable part replaced by a sample value."""
    return {re.sub(r"<[^>]+>", "1", rule.rule): rule.endpoint for rule in app.url_map.iter_rules()}


def test_the_ingress_publishes_every_route_of_the_web_app_but_not_metrics_or_probes(docs, apps):
    rules = find(docs, "Ingress", "triage-web")["spec"]["rules"]
    paths = [p for rule in rules for p in rule["http"]["paths"]]
    assert {(p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"]) for p in paths} == {
        ("triage-web", "http")
    }

    def published(url: str) -> bool:
        return any(
            url == p["path"] or (p["pathType"] == "Prefix" and url.startswith(p["path"].rstrip("/") + "/"))
            for p in paths
        )

    app = apps["service.wsgi:app"]
    ops = {"/healthz", "/readyz", "/metrics"}
    for url, endpoint in routes(app).items():
        if endpoint == "static" and not Path(app.static_folder or "").is_dir():
            continue  # Flask's default /static/ route, with no folder behind it
        assert published(url) != (url in ops), (url, endpoint)
    assert not any(published(url) for url in ops)


# -- the models volume ------------------------------------------------------------------------------------------


def models_mounts(spec: dict) -> tuple[list[dict], list[dict]]:
    """The pod's volumes that hold the models claim, and every container's mounts of them."""
    volumes = [
        v for v in spec.get("volumes", []) if v.get("persistentVolumeClaim", {}).get("claimName") == MODELS_CLAIM
    ]
    names = {v["name"] for v in volumes}
    mounts = [m for c in containers(spec) for m in c.get("volumeMounts", []) if m["name"] in names]
    return volumes, mounts


def test_the_models_volume_is_read_only_for_serving_and_writable_only_by_training(docs):
    models_dir = config_map(docs)["TRIAGE_MODELS_DIR"]
    assert models_dir == COMPOSE["x-triage"]["environment"]["TRIAGE_MODELS_DIR"]
    for role in SERVING:
        volumes, mounts = models_mounts(pod_spec(workload(docs, role)))
        assert volumes and all(v["persistentVolumeClaim"]["readOnly"] is True for v in volumes), role
        assert mounts and all(m["readOnly"] is True and m["mountPath"] == models_dir for m in mounts), role
    volumes, mounts = models_mounts(pod_spec(workload(docs, "train")))
    assert not any(v["persistentVolumeClaim"].get("readOnly") for v in volumes)
    assert [(m["mountPath"], m.get("readOnly", False)) for m in mounts] == [(models_dir, False)]
    writers = [
        d["metadata"]["name"]
        for d in docs
        if d["kind"] in WORKLOADS_KINDS
        for m in models_mounts(pod_spec(d))[1]
        if not m.get("readOnly")
    ]
    assert writers == ["triage-train"]
    # Pods on several nodes mount it; the training job writes while they read.
    assert find(docs, "PersistentVolumeClaim", MODELS_CLAIM)["spec"]["accessModes"] == ["ReadWriteMany"]


def test_scheduled_retraining_is_left_to_the_training_job(docs):
    """The worker retrains in the models directory when TRIAGE_RETRAIN_INTERVAL_S is set; its mount is read-only."""
    assert config_map(docs).get("TRIAGE_RETRAIN_INTERVAL_S", "0") == "0"
    train = find(docs, "CronJob", "triage-train")["spec"]
    assert train["suspend"] is True and train["concurrencyPolicy"] == "Forbid"


# -- settings, ConfigMaps and Secrets ---------------------------------------------------------------------------


def env_sources(container: dict) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, key) of every ConfigMap and Secret a container's environment reads; key None = all."""
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            yield "ConfigMap", source["configMapRef"]["name"], None
        if "secretRef" in source:
            yield "Secret", source["secretRef"]["name"], None
    for var in container.get("env", []):
        ref = var.get("valueFrom", {})
        if "configMapKeyRef" in ref:
            yield "ConfigMap", ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"]
        if "secretKeyRef" in ref:
            yield "Secret", ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]


def test_every_config_map_and_secret_key_a_pod_or_keda_reads_exists(variant_docs):
    available = {("ConfigMap", d["metadata"]["name"]): set(d["data"]) for d in variant_docs if d["kind"] == "ConfigMap"}
    available |= {("Secret", name): set(data) for name, data in example_secrets().items()}
    wanted: list[tuple[str, str, str | None]] = []
    for doc in variant_docs:
        if doc["kind"] in WORKLOADS_KINDS:
            spec = pod_spec(doc)
            for container in containers(spec):
                wanted += env_sources(container)
            for volume in spec.get("volumes", []):
                for kind, field, name_key in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
                    if field in volume:
                        keys = [item["key"] for item in volume[field].get("items", [])] or [None]
                        wanted += [(kind, volume[field][name_key], key) for key in keys]
        if doc["kind"] == "TriggerAuthentication":
            wanted += [("Secret", ref["name"], ref["key"]) for ref in doc["spec"]["secretTargetRef"]]
    assert wanted
    for kind, name, key in wanted:
        assert (kind, name) in available, f"{kind}/{name} is in no manifest"
        assert key is None or key in available[(kind, name)], f"{kind}/{name} has no key {key!r}"


def secret_mounts(spec: dict, container: dict) -> dict[str, str]:
    """mount path -> Secret name, for a container's mounts of Secret volumes."""
    secrets = {v["name"]: v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    return {m["mountPath"]: secrets[m["name"]] for m in container.get("volumeMounts", []) if m["name"] in secrets}


def core_secret_settings() -> list[str]:
    return [f"TRIAGE_{f.name.upper()}" for f in Settings.__dataclass_fields__.values() if f.metadata.get("secret")]


def integration_secret_settings() -> list[str]:
    """Every NAME an integration reads with secret(environ, NAME) (NAME or NAME_FILE)."""
    names = []
    for path in sorted((ROOT / "integrations").glob("*/settings.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "secret":
                names.append(node.args[1].value)
    return names


# Secret settings the cluster leaves unset on purpose, and why.
UNSET_SECRETS = {
    # compose sets it; here the kubelet's probes ask the ops app, which a token would close to them.
    "TRIAGE_METRICS_TOKEN": "the kubelet and Prometheus ask the ops app on its own port; a token would close it",
}


def test_each_secret_setting_is_read_from_a_file_mounted_from_a_secret(docs):
    config, secrets = config_map(docs), example_secrets()
    assert set(core_secret_settings()) >= {"TRIAGE_WEBHOOK_SECRET", "TRIAGE_API_TOKENS", "TRIAGE_SECRET_KEY"}
    for name in UNSET_SECRETS:
        assert name not in config and f"{name}_FILE" not in config, name
    for role in WORKLOADS:
        spec = pod_spec(workload(docs, role))
        for container in spec["containers"]:
            if ("ConfigMap", "triage-config", None) not in set(env_sources(container)):
                continue
            mounts = secret_mounts(spec, container)
            for name in set(core_secret_settings()) - set(UNSET_SECRETS):
                # The value itself is never in a manifest; its *_FILE names a file in a mounted Secret.
                assert name not in config and name not in {v["name"] for v in container.get("env", [])}
                directory, _, key = config[f"{name}_FILE"].rpartition("/")
                assert directory in mounts, f"{role}: {name}_FILE points outside any mounted Secret"
                assert key in secrets[mounts[directory]], f"{mounts[directory]} lacks {key}"
    # Integrations' secrets: a key in the Secret each, and docs/deploy.md says which *_FILE to set.
    docs_text = (ROOT / "docs" / "deploy.md").read_text()
    names = integration_secret_settings()
    assert {"TRIAGE_ZENDESK_API_TOKEN", "TRIAGE_JIRA_WEBHOOK_SECRET", "TRIAGE_LLM_API_KEY"} <= set(names)
    for name in names:
        assert name.removeprefix("TRIAGE_").lower() in secrets["triage-secrets"], name
        assert f"{name}_FILE" in docs_text, name


def test_database_and_broker_urls_with_their_passwords_come_from_a_secret(docs):
    assert not {"TRIAGE_DATABASE_URL", "TRIAGE_BROKER_URL"} & set(config_map(docs))
    for doc in docs:
        if doc["kind"] not in WORKLOADS_KINDS:
            continue
        for container in containers(pod_spec(doc)):
            for var in container.get("env", []):
                if var["name"] in ("TRIAGE_DATABASE_URL", "TRIAGE_BROKER_URL"):
                    assert "value" not in var and var["valueFrom"]["secretKeyRef"]["name"] == "triage-connections"
                assert not re.search(r"SECRET|TOKEN|PASSWORD|_KEY$", var["name"]) or "value" not in var, var


def test_the_example_secrets_are_never_applied(docs):
    assert not [d for d in docs if d["kind"] == "Secret"]
    kustomizations = list(K8S.rglob("kustomization.yaml"))
    assert kustomizations and all(SECRETS_EXAMPLE.name not in path.read_text() for path in kustomizations)


def test_init_containers_wait_for_migrations_with_the_script_the_config_map_holds(docs, tmp_path):
    scripts = config_map(docs, "triage-scripts")
    for role in SERVING:
        spec = pod_spec(workload(docs, role))
        (init,) = spec["initContainers"]
        script = Path(init["command"][-1])
        (mount,) = [m for m in init["volumeMounts"] if m["mountPath"] == str(script.parent)]
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["configMap"]["name"] == "triage-scripts" and script.name in scripts
    path = tmp_path / "wait_for_migrations.py"
    path.write_text(scripts["wait_for_migrations.py"])
    migrated, empty = f"sqlite:///{tmp_path / 'migrated.db'}", f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade(migrated)
    run = [sys.executable, str(path)]
    done = subprocess.run(run, env={"TRIAGE_DATABASE_URL": migrated}, cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with subprocess.Popen(run, env={"TRIAGE_DATABASE_URL": empty}, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert "run `triage db upgrade`" in proc.stdout.readline()
        finally:
            proc.kill()


# -- scaling the workers on queue depth -------------------------------------------------------------------------


def target(doc: dict) -> str:
    return doc["spec"]["scaleTargetRef"]["name"]


def test_exactly_one_autoscaler_owns_the_worker_count(variant_docs):
    worker = workload(variant_docs, "worker")
    # A replica count in the Deployment would be reset by every `kubectl apply`, fighting the autoscaler.
    assert "replicas" not in worker["spec"]
    (scaler,) = [d for d in variant_docs if d["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")]
    assert target(scaler) == "triage-worker"
    minimum = scaler["spec"].get("minReplicaCount", scaler["spec"].get("minReplicas"))
    maximum = scaler["spec"].get("maxReplicaCount", scaler["spec"].get("maxReplicas"))
    assert minimum == COMPOSE["services"]["worker"]["deploy"]["replicas"] and maximum > minimum


def test_keda_reads_the_length_of_the_celery_queue_the_workers_consume():
    docs = render("keda")
    scaled = find(docs, "ScaledObject", "triage-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"] == {"name": "triage-worker"}  # a Deployment by default
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    metadata = trigger["metadata"]
    # KEDA's CRD takes strings only: `listLength: 20` would be refused by the API server.
    assert all(isinstance(v, str) for v in metadata.values())
    worker = main_container(docs, "worker")["command"]
    assert metadata["listName"] == QUEUE == worker[worker.index("-Q") + 1]
    assert int(metadata["listLength"]) > 0
    broker_db = COMPOSE["x-triage"]["environment"]["TRIAGE_BROKER_URL"].rsplit("/", 1)[1]
    assert metadata.get("databaseIndex", "0") == broker_db
    # Where Redis is: in the metadata, or in the TriggerAuthentication it names.
    auth = find(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    parameters = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
    assert "address" in parameters | set(metadata) and parameters <= {"address", "host", "port", "username", "password"}
    assert all(set(ref) == {"parameter", "name", "key"} for ref in auth["spec"]["secretTargetRef"])


def scrape(app) -> dict[str, list[dict[str, str]]]:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {f.name: [s.labels for s in f.samples] for f in text_string_to_metric_families(text)}


def test_the_hpa_scales_on_the_queue_metric_that_metrics_exports(apps):
    (hpa,) = [d for d in render("hpa") if d["kind"] == "HorizontalPodAutoscaler"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    name, labels = metric["external"]["metric"]["name"], metric["external"]["metric"]["selector"]["matchLabels"]
    assert name == "triage_broker_queue_messages" and labels == {"queue": QUEUE}
    assert labels in scrape(apps["embedded"])[name]
    assert metric["external"]["target"]["type"] == "AverageValue"
    # The same target as KEDA's, so switching between them changes nothing but the mechanism.
    (trigger,) = find(render("keda"), "ScaledObject", "triage-worker")["spec"]["triggers"]
    assert metric["external"]["target"]["averageValue"] == trigger["metadata"]["listLength"]


# -- the walk-through --------------------------------------------------------------------------------------------


def test_docs_deploy_walks_from_compose_to_the_cluster_and_the_readme_links_it():
    text = (ROOT / "docs" / "deploy.md").read_text()
    for step in (
        "docker build",
        "docker push",
        "create secret generic triage-secrets",
        "create secret generic triage-connections",
        "kubectl apply -k deploy/k8s/overlays/production",
        "job/triage-migrate",
        "create job --from=cronjob/triage-train",
        "KEDA",
        "prometheus-adapter",
        "bench/load.py --rate 500",
    ):
        assert step in text, step
    for name, keys in example_secrets().items():
        assert name in text and all(key in text for key in keys), name
    assert "docs/deploy.md" in (ROOT / "README.md").read_text()
