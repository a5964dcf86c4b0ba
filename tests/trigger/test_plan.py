"""The trigger's decisions on Rollout objects shaped as the chart renders them and Argo reports them; the JSON
Patches are applied here as the API server applies them (RFC 6902), and the result is checked."""

from __future__ import annotations

import copy
import json

import pytest

from mlkube_server.trigger import plan


def apply(document: dict, ops: list[dict]) -> dict:
    doc = copy.deepcopy(document)
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key = (len(target) if last == "-" else int(last)) if isinstance(target, list) else last
        if op["op"] == "test":
            assert target[key] == op["value"], "resourceVersion test failed"
        elif op["op"] == "remove":
            del target[key]
        elif isinstance(target, list) and op["op"] == "add":
            target.insert(key, op["value"])
        else:
            target[key] = op["value"]
    return doc


def rollout(models: dict[str, str], phase="Healthy", stable="aaa", current="aaa", abort=False, **extra) -> dict:
    return {
        "metadata": {"name": "r-model-server", "generation": 4, "resourceVersion": "100"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "x", plan.LABEL_MODEL_VERSION: "champion"}},
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "env": [
                                {
                                    "name": "MLKUBE_REVISION",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['x']"}},
                                },
                                {"name": "MLKUBE_SERVER_MODELS", "value": json.dumps(models)},
                                {"name": "MLKUBE_MODEL_VERSION", "value": "champion"},
                            ],
                        }
                    ]
                },
            }
        },
        "status": {
            "observedGeneration": "4",
            "phase": phase,
            "stableRS": stable,
            "currentPodHash": current,
            "abort": abort,
            **extra,
        },
    }


def env(doc: dict) -> dict:
    return {e["name"]: e.get("value") for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]}


def after_argo(doc: dict, **status) -> dict:
    """The Rollout as Argo reports it once it has observed ``doc``."""
    doc = copy.deepcopy(doc)
    doc["metadata"]["generation"] += 1
    doc["metadata"]["resourceVersion"] = str(int(doc["metadata"]["resourceVersion"]) + 1)
    doc["status"] |= {"observedGeneration": str(doc["metadata"]["generation"])} | status
    return doc


STABLE = rollout({"penguins": "models:/penguins@champion", "other": "models:/other/2"})


def test_challenger_points_the_model_at_its_version_and_keeps_the_stable_values():
    decision = plan.start(STABLE, "penguins", 7)
    assert isinstance(decision, plan.Start)
    patched = apply(STABLE, decision.ops)
    assert json.loads(env(patched)["MLKUBE_SERVER_MODELS"]) == {
        "penguins": "models:/penguins/7",
        "other": "models:/other/2",
    }
    assert env(patched)["MLKUBE_MODEL_VERSION"] == "7"
    assert patched["spec"]["template"]["metadata"]["labels"][plan.LABEL_MODEL_VERSION] == "7"
    assert patched["spec"]["template"]["metadata"]["annotations"][plan.ANNOTATION_CHALLENGER] == "penguins/7"
    stored = json.loads(patched["metadata"]["annotations"][plan.ANNOTATION_STABLE_TEMPLATE])
    assert json.loads(stored["models"])["penguins"] == "models:/penguins@champion" and stored["challenger"] is None


def test_a_newer_challenger_mid_rollout_replaces_the_template_and_keeps_the_first_stable_values():
    first = after_argo(apply(STABLE, plan.start(STABLE, "penguins", 7).ops), phase="Progressing", currentPodHash="bbb")
    decision = plan.start(first, "penguins", 8)
    assert isinstance(decision, plan.Start) and "replaces the rollout of penguins/7" in decision.message
    second = apply(first, decision.ops)
    assert env(second)["MLKUBE_MODEL_VERSION"] == "8"
    stored = json.loads(second["metadata"]["annotations"][plan.ANNOTATION_STABLE_TEMPLATE])
    assert json.loads(stored["models"])["penguins"] == "models:/penguins@champion"


@pytest.mark.parametrize("version", [6, 7])
def test_older_or_duplicate_versions_are_skipped(version):
    current = after_argo(apply(STABLE, plan.start(STABLE, "penguins", 7).ops), phase="Progressing", currentPodHash="b")
    decision = plan.start(current, "penguins", version)
    assert isinstance(decision, plan.Skip) and "not newer than version 7" in decision.message


def test_unknown_model_and_a_busy_rollout_are_skipped():
    assert "not served" in plan.start(STABLE, "digits", 3).message
    busy = after_argo(apply(STABLE, plan.start(STABLE, "penguins", 7).ops), phase="Paused", currentPodHash="b")
    assert "under way" in plan.start(busy, "other", 3).message


def test_promotion_is_a_verdict_once_the_challenger_template_is_stable_and_not_yet_recorded():
    started = apply(STABLE, plan.start(STABLE, "penguins", 7).ops)
    assert plan.verdict(after_argo(started, phase="Progressing", currentPodHash="b")) is None
    assert plan.verdict(after_argo(started, phase="Healthy", stableRS="b", currentPodHash="b")) == plan.Verdict(
        "penguins", 7, promoted=True
    )
    pending = copy.deepcopy(started)  # Argo has not seen the new generation yet
    pending["metadata"]["generation"] = 9
    assert plan.verdict(pending) is None
    done = after_argo(started, phase="Healthy", stableRS="b", currentPodHash="b")
    done = apply(done, plan.set_rollout_annotation(done, plan.ANNOTATION_RECORDED, "penguins/7"))
    assert plan.verdict(done) is None


def test_abort_reverts_to_the_stable_template_exactly_and_explains_why():
    started = apply(STABLE, plan.start(STABLE, "penguins", 7).ops)
    aborted = after_argo(
        started,
        phase="Degraded",
        currentPodHash="b",
        abort=True,
        message='RolloutAborted: Rollout aborted update to revision 2: Metric "error-ratio" assessed Failed',
        canary={"currentStepAnalysisRunStatus": {"name": "run-1", "status": "Failed"}},
    )
    assert plan.verdict(aborted) == plan.Verdict("penguins", 7, promoted=False)
    assert plan.analysis_run_names(aborted) == ["run-1"]
    run = {"status": {"metricResults": [{"name": "error-ratio", "phase": "Failed", "message": "0.2 > 0.01"},
                                        {"name": "p99", "phase": "Successful"}]}}  # fmt: skip
    reason = plan.abort_reason(aborted, [run])
    assert "RolloutAborted" in reason and "metric error-ratio failed: 0.2 > 0.01" in reason and "p99" not in reason
    reverted = apply(aborted, plan.revert(aborted, "penguins/7"))
    assert reverted["spec"]["template"] == {**STABLE["spec"]["template"],
                                            "metadata": {**STABLE["spec"]["template"]["metadata"],
                                                         "annotations": {}}}  # fmt: skip
    assert reverted["metadata"]["annotations"][plan.ANNOTATION_RECORDED] == "penguins/7"
    assert plan.verdict(reverted) is None


def test_a_stale_read_makes_the_patch_fail_instead_of_overwriting():
    ops = plan.start(STABLE, "penguins", 7).ops
    moved = copy.deepcopy(STABLE)
    moved["metadata"]["resourceVersion"] = "101"
    with pytest.raises(AssertionError, match="resourceVersion"):
        apply(moved, ops)


def test_the_model_version_label_is_platform_envs():
    from tests.cluster.kube import ROOT, read_env_file

    assert plan.LABEL_MODEL_VERSION == read_env_file(ROOT / "platform.env")["LABEL_MODEL_VERSION"]


def taking_over(phase="Healthy", deployment_replicas=0) -> tuple[dict, dict]:
    """A Rollout that references the Deployment it takes over from (the chart's migration), and that Deployment."""
    doc = copy.deepcopy(STABLE)
    template = doc["spec"].pop("template")
    doc["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "r-model-server"}
    doc["status"]["phase"] = phase
    deployment = {"spec": {"replicas": deployment_replicas, "paused": True, "template": template}}
    return doc, deployment


def test_a_challenger_after_the_take_over_adopts_the_deployments_template_in_the_same_guarded_patch():
    doc, deployment = taking_over()
    assert plan.workload_ref(doc) == "r-model-server"
    decision = plan.start(doc, "penguins", 7, deployment)
    assert isinstance(decision, plan.Start)
    assert decision.ops[0]["op"] == "test"  # one guard covers the adoption too
    patched = apply(doc, decision.ops)
    assert "workloadRef" not in patched["spec"]
    assert json.loads(env(patched)["MLKUBE_SERVER_MODELS"])["penguins"] == "models:/penguins/7"
    stored = json.loads(patched["metadata"]["annotations"][plan.ANNOTATION_STABLE_TEMPLATE])
    assert json.loads(stored["models"])["penguins"] == "models:/penguins@champion"
    assert deployment["spec"]["template"]["metadata"]["labels"][plan.LABEL_MODEL_VERSION] == "champion"  # not mutated


@pytest.mark.parametrize("phase, replicas", [("Progressing", 0), ("Healthy", 3)])
def test_a_challenger_during_the_take_over_waits_for_it(phase, replicas):
    doc, deployment = taking_over(phase, replicas)
    decision = plan.start(doc, "penguins", 7, deployment)
    assert isinstance(decision, plan.Skip) and "taking over from deployment/r-model-server" in decision.message


def test_a_workload_ref_to_anything_but_a_deployment_is_refused():
    doc, deployment = taking_over()
    doc["spec"]["workloadRef"]["kind"] = "StatefulSet"
    with pytest.raises(plan.RolloutShapeError, match="not an apps/v1 Deployment"):
        plan.start(doc, "penguins", 7, deployment)
    doc["spec"]["workloadRef"]["kind"] = "Deployment"
    with pytest.raises(plan.RolloutShapeError, match="none was given"):
        plan.start(doc, "penguins", 7)
