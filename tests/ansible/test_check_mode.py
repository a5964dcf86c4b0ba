"""Check mode of the paths that cannot really run here (kind needs a pullable node image, the
clouds need accounts): every query runs for real, nothing is changed, and a missing prerequisite
fails with a message that says what to do."""

from pathlib import Path

import pytest

from tests.ansible.playbook import find_kubectl, run_playbook


def test_kind_check_mode_plans_the_cluster_and_changes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    run = run_playbook("kind", "--check", "--skip-tags", "platform", MLKUBE_CACHE=str(cache), MLKUBE_GPU="false")
    assert run.rc == 0, run.explain()
    assert run.stats.get("failures", 0) == 0
    # The queries ran and found no kind in the fresh cache: kind would be installed, the cluster created.
    assert run.result("List kind clusters").get("rc", 0) != 0
    create = run.result("Create the kind cluster")
    assert not create.get("skip_reason", "").startswith("Conditional result was False"), create
    assert run.result("Check that the kind config exists")["stat"]["exists"]
    assert run.stats.get("changed", 0) > 0
    # ... and check mode left no trace.
    assert list(cache.iterdir()) == []


def test_kind_gpu_variant_checks_the_nvidia_runtime(tmp_path: Path) -> None:
    run = run_playbook("kind", "--check", "--skip-tags", "platform", MLKUBE_CACHE=str(tmp_path), MLKUBE_GPU="true")
    runtime = run.result("Ask Docker for its default runtime")
    if runtime.get("stdout", "").strip() == "nvidia":
        pytest.fail("this machine's Docker runs the NVIDIA runtime: the GPU variant should be run for real here")
    assert run.rc != 0
    assert any("nvidia-ctk runtime configure" in m for m in run.failure_messages()), run.explain()


def test_cloud_check_mode_reports_an_unreachable_cluster(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    run = run_playbook(
        "cloud",
        "--check",
        "-e",
        f"mlkube_kubectl={find_kubectl()}",
        MLKUBE_CACHE=str(tmp_path / "cache"),
        MLKUBE_KUBECONFIG=str(kubeconfig),
        MLKUBE_CLOUD_PROVIDER="existing",
    )
    assert run.rc != 0
    assert any("does not answer" in m and str(kubeconfig) in m for m in run.failure_messages()), run.explain()


def test_cloud_check_mode_without_kubeconfig_says_what_to_set(tmp_path: Path) -> None:
    run = run_playbook(
        "cloud",
        "--check",
        MLKUBE_CACHE=str(tmp_path),
        MLKUBE_KUBECONFIG=str(tmp_path / "missing"),
        MLKUBE_CLOUD_PROVIDER="existing",
    )
    assert run.rc != 0
    assert any("set MLKUBE_KUBECONFIG" in m for m in run.failure_messages()), run.explain()


@pytest.mark.parametrize(("provider", "message"), [("eks", "EKS needs"), ("gke", "GKE needs")])
def test_cloud_creation_asks_for_its_settings(tmp_path: Path, provider: str, message: str) -> None:
    env = {"MLKUBE_CACHE": str(tmp_path), "MLKUBE_CLOUD_PROVIDER": provider, "AWS_REGION": "", "GCP_PROJECT": ""}
    run = run_playbook("cloud", "--check", **env)
    assert run.rc != 0
    assert any(m.startswith(message) for m in run.failure_messages()), run.explain()
    # The settings check comes before any cloud API call.
    assert not any(
        name.startswith(("cloud_cluster : Create the", "cloud_cluster : Delete the")) and not result.get("skipped")
        for name, result in run.results().items()
    )


def test_cloud_images_are_pushed_to_the_registry_set(tmp_path: Path) -> None:
    registry = "registry.example:5000/team"
    run = run_playbook("cloud", "--check", "--tags", "images", MLKUBE_CACHE=str(tmp_path), IMAGE_REGISTRY=registry)
    assert run.rc == 0, run.explain()
    pushes = run.result("Push every image to")["results"]
    assert len(pushes) == 8 and all(
        push["cmd"] == ["docker", "push", f"{registry}/{push['item']['ref']}"]
        and push["msg"] == "Command would have run if not in check mode"
        for push in pushes
    ), pushes
    builds = run.result("Build the images that are out of date")["results"]
    assert [build["cmd"][:2] for build in builds] == [["docker", "build"]] * 8, builds
    # A cloud cluster has no images of its own to load.
    assert "Load the images into the cluster of target" not in " ".join(run.results())
    assert list(tmp_path.iterdir()) == []


def test_without_a_registry_the_cloud_target_has_no_images_to_handle(tmp_path: Path) -> None:
    run = run_playbook("cloud", "--check", "--tags", "images", MLKUBE_CACHE=str(tmp_path), IMAGE_REGISTRY="")
    assert run.rc == 0, run.explain()
    images = {name: result for name, result in run.results().items() if name.startswith("images :")}
    assert images and all(result.get("skipped") for result in images.values()), images


@pytest.mark.parametrize("registry", ["https://registry.example/team", "registry.example/team/"])
def test_a_registry_that_no_image_reference_starts_with_fails_before_the_build(tmp_path: Path, registry: str) -> None:
    run = run_playbook("cloud", "--check", "--tags", "images", MLKUBE_CACHE=str(tmp_path), IMAGE_REGISTRY=registry)
    assert run.rc != 0
    assert any(m.startswith("IMAGE_REGISTRY must be host[:port][/path]") for m in run.failure_messages()), run.explain()
    assert not any("Build the images" in name for name in run.results()), list(run.results())
