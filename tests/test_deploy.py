"""``deploy/``: what can be checked without Docker or Kubernetes (neither is on this machine).

The RayService's Serve config must be one Ray Serve accepts, its ``import_path`` must build
the application from its args, and the Dockerfile must copy what exists and build engine
envs that have a committed lock.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import write_config
from fanren_tts.config import PROJECT_ROOT

pytest.importorskip("ray.serve", reason="needs ray[serve] (the [ray] extra)")
pytest.importorskip("fastapi")

DEPLOY = PROJECT_ROOT / "deploy"


def _rayservice() -> dict:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "rayservice.yaml").read_text()) if d]
    return next(d for d in docs if d["kind"] == "RayService")


def test_rayservice_serve_config_is_valid_and_builds(tmp_path: Path) -> None:
    from ray.serve._private.utils import import_attr
    from ray.serve.schema import ServeDeploySchema

    service = _rayservice()
    assert service["apiVersion"] == "ray.io/v1"
    serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
    schema = ServeDeploySchema.model_validate(serve_config)
    (app,) = schema.applications
    assert app.import_path == "fanren_tts.rayserve.app:build"
    build = import_attr(app.import_path)
    args = dict(app.args)
    config = write_config(
        tmp_path / "config.yaml",
        {name: {} for name in args["engines"]},
        voices={"dir": str(tmp_path / "voices")},
    )
    built = build({**args, "config": str(config)})  # the args the manifest gives, this machine's paths
    assert type(built).__name__ == "Application"
    # every pod mounts the shared voices volume where the image's config says voices are
    for spec in [
        service["spec"]["rayClusterConfig"]["headGroupSpec"],
        *service["spec"]["rayClusterConfig"]["workerGroupSpecs"],
    ]:
        (container,) = spec["template"]["spec"]["containers"]
        assert {"name": "voices", "mountPath": "/voices"} in container["volumeMounts"]


def test_dockerfile_copies_what_exists_and_builds_locked_envs() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", text, flags=re.M):
        for part in source.split():
            assert (PROJECT_ROOT / part).exists(), part
    engines = re.search(r'^ARG ENGINES="([^"]+)"', text, flags=re.M)
    assert engines is not None
    for name in engines.group(1).split():
        assert (PROJECT_ROOT / "envs" / name / "uv.lock").exists(), name
    assert "runtime_env" not in text.split("\n\n", 1)[1]  # envs are baked in, never built through runtime_env
