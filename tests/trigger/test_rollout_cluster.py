"""The trigger against the local cluster's API server: a Rollout as the model-server chart renders it, with the
kubeconfig's client certificate and with the chart's own ServiceAccount, and the real trigger process fed by a
real MLflow. The Rollout carries a controller instance id no Argo controller has, so Argo leaves it alone and the
tests write its status as Argo would (the controller need not run)."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from mlflow.exceptions import MlflowException

from mlkube_server.model_tags import OUTCOME_ABORTED, OUTCOME_PROMOTED, TAG_ROLLOUT_OUTCOME
from mlkube_server.trigger import kube as kube_module
from mlkube_server.trigger import plan
from mlkube_server.trigger.errors import KubeError
from mlkube_server.trigger.kube import Kube, connect
from tests.cluster.kube import (
    ROOT,
    ClusterPaths,
    Kubectl,
    KubectlError,
    apply_staged_crds,
    read_env_file,
    wait_until,
)
from tests.trigger.conftest import register_versions

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RELEASE = "trig"
ROLLOUT = f"{RELEASE}-model-server"
SERVICE_ACCOUNT = f"{ROLLOUT}-rollout-trigger"
INSTANCE_ID = "argo-rollouts.argoproj.io/controller-instance-id"
PLATFORM = read_env_file(ROOT / "platform.env")
VERSIONS = read_env_file(ROOT / "versions.env")
PAUSE_IMAGE = ("mlkube/pause", PLATFORM.get("IMAGE_TAG", "0.1.0"))
STORM = 20


@pytest.fixture(scope="module")
def cluster() -> Kubectl:
    paths = ClusterPaths.discover()
    if not paths.kubectl.is_file() or not paths.kubeconfig.is_file():
        pytest.fail(f"local cluster not up ({paths.kubeconfig} missing): run `make up`", pytrace=False)
    kubectl = Kubectl(paths)
    try:
        kubectl.run("get", "crd", "rollouts.argoproj.io", timeout=15)
    except KubectlError:
        # Before the platform is installed (the cluster suite runs first).
        crds = paths.cache / "argo-rollouts" / f"crds-{VERSIONS['ARGO_ROLLOUTS_VERSION']}"
        apply_staged_crds(lambda *args: kubectl.run(*args, timeout=90), crds)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the local cluster's API server does not answer: {exc}", pytrace=False)
    return kubectl


@pytest.fixture
def namespace(cluster: Kubectl) -> Iterator[Kubectl]:
    name = f"trigger-{uuid.uuid4().hex[:8]}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield cluster.in_namespace(name)
    cluster.run("delete", "namespace", name, "--wait=false", check=False)


def render(namespace: str, models: list[str], *settings: str, kubeconfig: Path | None = None) -> list[dict[str, Any]]:
    """The model-server chart with a pause image; with a kubeconfig, its lookups read the live cluster."""
    helm = Path(ROOT / ".cache" / "bin" / "helm")
    defaults = yaml.safe_load((ROOT / "charts" / "model-server" / "values.yaml").read_text())["server"]["models"]
    served = dict.fromkeys(defaults) | {name: f"models:/{name}@champion" for name in models}  # null drops a default
    args = [str(helm), "template", RELEASE, str(ROOT / "charts" / "model-server"), "--namespace", namespace,
            "--set", "rolloutTrigger.enabled=true", "--set", f"model.name={models[0]}",
            "--set-json", f"server.models={json.dumps(served)}",
            "--set", f"image.repository={PAUSE_IMAGE[0]}", "--set", f"image.tag={PAUSE_IMAGE[1]}",
            *settings]  # fmt: skip
    if kubeconfig is not None:
        args += ["--dry-run=server", "--kubeconfig", str(kubeconfig)]
    rendered = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout
    return [o for o in yaml.safe_load_all(rendered) if o]


def chart_objects(namespace: str, models: list[str], kubeconfig: Path | None = None) -> dict[str, dict[str, Any]]:
    """The chart's Rollout (pause image, held back from Argo) and the trigger's ServiceAccount and RBAC."""
    objects = render(namespace, models, "--set", "strategy=progressiveCanary", kubeconfig=kubeconfig)
    wanted = {("Rollout", ROLLOUT), ("ServiceAccount", SERVICE_ACCOUNT), ("Role", SERVICE_ACCOUNT),
              ("RoleBinding", SERVICE_ACCOUNT), ("Deployment", ROLLOUT),
              ("ConfigMap", f"{ROLLOUT}-config")}  # fmt: skip
    found = {o["kind"]: o for o in objects if (o["kind"], o["metadata"]["name"]) in wanted}
    taking_over = {"Deployment", "ConfigMap"}  # only while the Rollout takes over from a Deployment
    assert set(found) - taking_over == {kind for kind, _ in wanted} - taking_over, f"rendered {sorted(found)}"
    found["Rollout"]["metadata"].setdefault("labels", {})[INSTANCE_ID] = "mlkube-trigger-tests"
    return found


def owned_by_helm(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """An object as a Helm release installed it: a later render with lookups (an upgrade) may take it over."""
    obj["metadata"].setdefault("labels", {})["app.kubernetes.io/managed-by"] = "Helm"
    obj["metadata"].setdefault("annotations", {}).update(
        {"meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": namespace}
    )
    return obj


def create(kubectl: Kubectl, models: list[str]) -> dict[str, Any]:
    objects = chart_objects(str(kubectl.namespace), models)
    assert not {"Deployment", "ConfigMap"} & set(objects), "a first install renders no Deployment beside the Rollout"
    kubectl.run("create", "-f", "-", stdin=yaml.safe_dump_all(objects.values()))
    return kubectl.get("rollout", ROLLOUT)


def write_status(kubectl: Kubectl, **status: Any) -> dict[str, Any]:
    """Argo's part: the status of the Rollout's current generation."""
    generation = kubectl.get("rollout", ROLLOUT)["metadata"]["generation"]
    body = {"status": {"observedGeneration": str(generation), **status}}
    kubectl.run("patch", "rollout", ROLLOUT, "--subresource=status", "--type=merge", "-p", json.dumps(body))
    return kubectl.get("rollout", ROLLOUT)


def healthy(kubectl: Kubectl, pod_hash: str) -> dict[str, Any]:
    return write_status(kubectl, phase="Healthy", stableRS=pod_hash, currentPodHash=pod_hash, abort=False, message="")


def aborted(kubectl: Kubectl, stable: str) -> dict[str, Any]:
    return write_status(kubectl, phase="Degraded", stableRS=stable, currentPodHash="candidate", abort=True,
                        message="RolloutAborted: metric error-rate failed")  # fmt: skip


def env_of(rollout: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in rollout["spec"]["template"]["spec"]["containers"][0]["env"]}


def template_bytes(rollout: dict[str, Any]) -> str:
    return json.dumps(rollout["spec"]["template"])  # key order as the API server returns it


def test_client_certificate_kubeconfig_patches_and_reverts_the_template(namespace: Kubectl) -> None:
    create(namespace, ["tc-a", "tc-b"])
    before = healthy(namespace, "stable")
    kube = Kube(connect(namespace.paths.kubeconfig), str(namespace.namespace))
    try:
        decision = plan.start(kube.get_rollout(ROLLOUT), "tc-a", 5)
        assert isinstance(decision, plan.Start), decision
        started = time.perf_counter()
        kube.patch_rollout(ROLLOUT, decision.ops)
        patch_ms = (time.perf_counter() - started) * 1000
        after = kube.get_rollout(ROLLOUT)
        assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
        env = env_of(after)
        assert env[plan.ENV_MODELS] == '{"tc-a":"models:/tc-a/5","tc-b":"models:/tc-b@champion"}'
        assert env[plan.ENV_MODEL_VERSION] == "5"
        assert after["spec"]["template"]["metadata"]["annotations"][plan.ANNOTATION_CHALLENGER] == "tc-a/5"
        stored = json.loads(after["metadata"]["annotations"][plan.ANNOTATION_STABLE_TEMPLATE])
        assert stored["models"] == env_of(before)[plan.ENV_MODELS]

        # The guard: a patch planned on the Rollout as it was is refused, which the trigger retries on.
        with pytest.raises(KubeError) as stale:
            kube.patch_rollout(ROLLOUT, decision.ops)
        assert stale.value.status in (409, 422), stale.value

        rollout = aborted(namespace, "stable")
        verdict = plan.verdict(rollout)
        assert verdict == plan.Verdict("tc-a", 5, promoted=False)
        kube.patch_rollout(ROLLOUT, plan.revert(rollout, "tc-a/5"))
        reverted = kube.get_rollout(ROLLOUT)
        assert template_bytes(reverted) == template_bytes(before)
        assert reverted["metadata"]["annotations"][plan.ANNOTATION_RECORDED] == "tc-a/5"
        assert reverted["metadata"]["generation"] == before["metadata"]["generation"] + 2
    finally:
        kube.close()
    print(f"\nJSON patch of the Rollout: {patch_ms:.0f} ms")


def test_in_cluster_service_account_of_the_chart_reads_and_patches_only_its_rollout(
    namespace: Kubectl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    create(namespace, ["sa-a"])
    healthy(namespace, "stable")
    # The files a pod of the trigger gets from its projected ServiceAccount volume, and the service's address.
    config = yaml.safe_load(namespace.paths.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(namespace.run("create", "token", SERVICE_ACCOUNT, "--duration=10m").strip())
    (account / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    (account / "namespace").write_text(str(namespace.namespace))
    server = urlsplit(cluster["server"])
    monkeypatch.setattr(kube_module, "SERVICE_ACCOUNT", account)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", server.hostname or "")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port or 443))

    assert kube_module.in_cluster_namespace() == namespace.namespace
    kube = Kube(connect(None), str(namespace.namespace))
    try:
        rollout = kube.get_rollout(ROLLOUT)
        decision = plan.start(rollout, "sa-a", 2)
        assert isinstance(decision, plan.Start), decision
        kube.patch_rollout(ROLLOUT, decision.ops)
        assert env_of(kube.get_rollout(ROLLOUT))[plan.ENV_MODEL_VERSION] == "2"
        with pytest.raises(KubeError) as denied:
            kube.get_rollout("another-rollout")
        assert denied.value.status == 403, "the Role names the release's Rollout only"
        with pytest.raises(KubeError) as absent:
            kube.get_deployment(ROLLOUT)  # the one a Rollout may take over from: allowed, none here
        assert absent.value.status == 404, absent.value
        with pytest.raises(KubeError) as denied:
            kube.get_deployment("another-deployment")
        assert denied.value.status == 403, "the Role names the release's Deployment only"
    finally:
        kube.close()


def generation(kubectl: Kubectl) -> int:
    return kubectl.get("rollout", ROLLOUT)["metadata"]["generation"]


def champion(registry, name: str) -> str | None:
    try:
        return registry.get_model_version_by_alias(name, "champion").version
    except MlflowException:
        return None


def storm(registry, name: str, versions: list[str]) -> str:
    """Move @challenger STORM times in a random order; returns the version it ends on."""
    order = random.Random(name).sample(versions, len(versions))[:STORM]
    for version in order:
        registry.set_registered_model_alias(name, "challenger", version)
    return order[-1]


def test_alias_storms_start_one_rollout_each_and_argo_outcomes_reach_the_registry(
    namespace: Kubectl, registry, trigger_factory
) -> None:  # fmt: skip
    suffix = uuid.uuid4().hex[:6]
    first, second = f"storm-a-{suffix}", f"storm-b-{suffix}"
    for name in (first, second):
        register_versions(registry, name, STORM + 2)
    create(namespace, [first, second])
    stable = healthy(namespace, "stable")
    with trigger_factory(ROLLOUT, kubeconfig=namespace.paths.kubeconfig, namespace=str(namespace.namespace)) as trig:
        # A storm on the first model: one patch, of the version @challenger ended on.
        g0, began = generation(namespace), time.monotonic()
        last = storm(registry, first, [str(v) for v in range(2, STORM + 3)])
        trig.wait_for("patched rollout", timeout=60)
        patched_after = time.monotonic() - began
        time.sleep(4)  # longer than the settle time: a late delivery would patch again now
        rollout = namespace.get("rollout", ROLLOUT)
        assert rollout["metadata"]["generation"] == g0 + 1, trig.messages("rollout")
        assert json.loads(env_of(rollout)[plan.ENV_MODELS])[first] == f"models:/{first}/{last}"
        assert env_of(rollout)[plan.ENV_MODEL_VERSION] == last
        assert len(trig.messages("patched rollout")) == 1

        # Argo aborts it: the reason lands on the version, and the template goes back byte for byte.
        aborted(namespace, "stable")
        began = time.monotonic()
        wait_until("the trigger's revert", lambda: (namespace.get("rollout", ROLLOUT)["metadata"].get(
            "annotations") or {}).get(plan.ANNOTATION_RECORDED) == f"{first}/{last}", timeout=30)  # fmt: skip
        reverted_after = time.monotonic() - began
        reverted = namespace.get("rollout", ROLLOUT)
        assert template_bytes(reverted) == template_bytes(stable)
        assert registry.get_model_version(first, last).tags[TAG_ROLLOUT_OUTCOME] == OUTCOME_ABORTED

        # Argo fast-tracks the rollback; then a storm on the second model, which Argo promotes.
        healthy(namespace, "stable")
        g1 = generation(namespace)
        last = storm(registry, second, [str(v) for v in range(2, STORM + 3)])
        trig.wait_for("patched rollout", count=2, timeout=60)
        time.sleep(4)
        rollout = namespace.get("rollout", ROLLOUT)
        assert rollout["metadata"]["generation"] == g1 + 1, trig.messages("rollout")
        assert json.loads(env_of(rollout)[plan.ENV_MODELS])[second] == f"models:/{second}/{last}"
        healthy(namespace, "candidate")
        began = time.monotonic()
        wait_until("@champion on the promoted version", lambda: champion(registry, second) == last, timeout=30)
        promoted_after = time.monotonic() - began
        assert registry.get_model_version(second, last).tags[TAG_ROLLOUT_OUTCOME] == OUTCOME_PROMOTED
    print(
        f"\n{STORM} @challenger moves -> 1 patch, {patched_after:.1f}s after the storm began; abort -> revert "
        f"{reverted_after:.1f}s; healthy -> @champion {promoted_after:.1f}s"
    )


def test_a_rollout_that_takes_over_from_a_deployment_adopts_its_template_then_the_challenger(
    namespace: Kubectl,
) -> None:  # fmt: skip
    """The chart's migration against the live API server: with the rolling Deployment running, the progressive
    render references it (workloadRef) and keeps it paused at its replicas; once Argo has scaled it to zero the
    trigger's first challenger adopts its template, and the next render has the template and no Deployment."""
    ns, kubeconfig = str(namespace.namespace), namespace.paths.kubeconfig
    rolling = next(o for o in render(ns, ["wr-a"], "--set", "strategy=rolling", "--set", "replicaCount=2")
                   if o["kind"] == "Deployment")  # fmt: skip
    rolling["spec"]["paused"] = True  # its pods need not start here: the chart reads replicas only
    namespace.run("create", "-f", "-", stdin=yaml.safe_dump(owned_by_helm(rolling, ns)))

    objects = chart_objects(ns, ["wr-a"], kubeconfig=kubeconfig)
    assert objects["Rollout"]["spec"]["workloadRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": ROLLOUT, "scaleDown": "onsuccess"}  # fmt: skip
    assert "template" not in objects["Rollout"]["spec"]
    held = objects["Deployment"]["spec"]
    assert held["paused"] is True and held["replicas"] == 2
    assert "ConfigMap" in objects, "the Deployment's pods read theirs until they are gone"
    assert plan.ENV_MODELS in {e["name"] for e in held["template"]["spec"]["containers"][0]["env"]}
    namespace.run("apply", "--server-side", "--force-conflicts", "-f", "-",
                  stdin=yaml.safe_dump_all(owned_by_helm(o, ns) for o in objects.values()))  # fmt: skip
    healthy(namespace, "taken-over")

    kube = Kube(connect(kubeconfig), ns)
    try:
        rollout = kube.get_rollout(ROLLOUT)
        assert plan.workload_ref(rollout) == ROLLOUT
        waiting = plan.start(rollout, "wr-a", 3, kube.get_deployment(ROLLOUT))
        assert isinstance(waiting, plan.Skip) and "taking over" in waiting.message, waiting
        namespace.run("scale", "deployment", ROLLOUT, "--replicas=0")  # what Argo does once it is Healthy
        deployment = kube.get_deployment(ROLLOUT)
        decision = plan.start(kube.get_rollout(ROLLOUT), "wr-a", 3, deployment)
        assert isinstance(decision, plan.Start), decision
        kube.patch_rollout(ROLLOUT, decision.ops)
        adopted = kube.get_rollout(ROLLOUT)
    finally:
        kube.close()
    assert "workloadRef" not in adopted["spec"]
    assert env_of(adopted)[plan.ENV_MODEL_VERSION] == "3"
    assert adopted["spec"]["template"]["metadata"]["annotations"][plan.ANNOTATION_CHALLENGER] == "wr-a/3"
    stored = json.loads(adopted["metadata"]["annotations"][plan.ANNOTATION_STABLE_TEMPLATE])
    assert stored["models"] == env_of(deployment)[plan.ENV_MODELS]

    after = chart_objects(ns, ["wr-a"], kubeconfig=kubeconfig)
    assert not {"Deployment", "ConfigMap"} & set(after) and "workloadRef" not in after["Rollout"]["spec"]
    assert env_of(after["Rollout"])[plan.ENV_MODELS] == stored["models"]  # the template it took over, as rendered
