"""Weight loading: the search order, hash and format checks, downloads, offline mode, and the
teacher's command line (course_tools.weights_cli).

The tests make their own VGG19 file in torchvision's format (PyTorch's default init, so
non-zero biases; its hash is not torchvision's ``dcbb9e9d``) and pass its hash where a test
needs it accepted.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from course_tools import fallback, weights_cli
from course_utils import config, features, weights


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> Path:
    """A full-model state_dict as torchvision saves it: features.* plus a classifier."""
    state = fallback.candidate_state(7, "torch-default")
    full = {f"features.{k}": v for k, v in state.items()}
    full["classifier.0.weight"] = torch.zeros(4, 3)  # stands in for the (ignored) classifier
    path = tmp_path_factory.mktemp("w") / "vgg19-test.pth"
    torch.save(full, path)
    return path


@pytest.fixture()
def clean_env(tmp_path, monkeypatch):
    """No weights anywhere: an empty torch home, no environment variable, no failures."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    monkeypatch.setattr(weights, "_NETWORK_FAILED", [])
    return tmp_path


@pytest.fixture()
def socket_guard(monkeypatch):
    """Record (and refuse) every attempt to open a network connection."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise ConnectionRefusedError("socket_guard: network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


# ------------------------------------------------------------------------- search order
def test_locate_order_given_path_then_env_then_cache(clean_env, vgg_file, monkeypatch):
    assert weights.locate() is None
    cached = weights.cache_path()
    assert str(cached).startswith(str(clean_env / "torch_home"))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert weights.locate().path == cached
    monkeypatch.setenv(weights.ENV_VAR, str(vgg_file))
    found = weights.locate()
    assert found.path == vgg_file and weights.ENV_VAR in found.origin
    other = clean_env / "given.pth"
    assert weights.locate(other).path == other


# ------------------------------------------------------------------------------ loading
def test_expected_layout_is_torchvisions_vgg19_features():
    # torchvision's own builder for vgg19().features (configuration "E"): same keys, same
    # shapes, so the real vgg19-dcbb9e9d.pth (features.* keys) loads into the extractor.
    from torchvision.models.vgg import cfgs, make_layers

    tv = make_layers(cfgs["E"])
    assert {k: tuple(v.shape) for k, v in tv.state_dict().items()} == weights.vgg19_state_shapes()
    features.build_vgg19_features().load_state_dict(tv.state_dict())  # strict


def test_loads_full_model_file_when_hash_matches(vgg_file):
    prefix = _sha(vgg_file)[:8]
    state = weights.load_vgg19_state(vgg_file, expected_sha256_prefix=prefix)
    saved = torch.load(vgg_file, weights_only=True)
    assert set(state) == set(weights.vgg19_state_shapes())
    assert len(state) == 32  # 16 convolutions x (weight, bias); the classifier is dropped
    assert torch.equal(state["0.weight"], saved["features.0.weight"])
    assert torch.equal(state["34.bias"], saved["features.34.bias"])


def test_loads_features_only_file(tmp_path):
    state = fallback.candidate_state(3, "torch-default")
    path = tmp_path / "features_only.pth"
    torch.save(state, path)
    loaded = weights.load_vgg19_state(path, expected_sha256_prefix=_sha(path)[:8])
    assert torch.equal(loaded["10.weight"], state["10.weight"])


def test_default_check_is_torchvisions_hash(vgg_file):
    assert weights.SHA256_PREFIX == "dcbb9e9d"
    assert weights.WEIGHTS_FILENAME == "vgg19-dcbb9e9d.pth"
    with pytest.raises(weights.WeightsError) as err:
        weights.load_vgg19_state(vgg_file)
    msg = str(err.value)
    assert "dcbb9e9d" in msg and _sha(vgg_file)[:8] in msg and "fetch" in msg
    assert "\n" not in msg


def test_junk_file_gives_one_clear_sentence(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(os.urandom(5000))
    with pytest.raises(weights.WeightsError) as err:
        weights.load_vgg19_state(junk, expected_sha256_prefix=_sha(junk)[:8])
    msg = str(err.value)
    assert "cannot be read" in msg and str(junk) in msg and "\n" not in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_truncated_file_is_refused_by_hash_and_by_format(vgg_file, tmp_path):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(vgg_file.read_bytes()[: vgg_file.stat().st_size // 2])
    with pytest.raises(weights.WeightsError, match="truncated"):
        weights.load_vgg19_state(cut, expected_sha256_prefix=_sha(vgg_file)[:8])
    with pytest.raises(weights.WeightsError, match="cannot be read"):
        weights.load_vgg19_state(cut, expected_sha256_prefix=_sha(cut)[:8])


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(weights.WeightsError, match="empty"):
        weights.load_vgg19_state(empty)
    with pytest.raises(weights.WeightsError, match="does not exist"):
        weights.load_vgg19_state(tmp_path / "nope.pth")


def test_wrong_architecture_names_the_tensor(tmp_path):
    state = fallback.candidate_state(1, "torch-default")
    state["2.weight"] = torch.zeros(64, 64, 5, 5)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(weights.WeightsError, match=r"'2\.weight' of shape \(64, 64, 5, 5\)"):
        weights.load_vgg19_state(path, expected_sha256_prefix=_sha(path)[:8])
    torch.save({"not": torch.zeros(1)}, path)
    with pytest.raises(weights.WeightsError, match="not VGG19"):
        weights.load_vgg19_state(path, expected_sha256_prefix=_sha(path)[:8])


# ------------------------------------------------------------ through the extractor
def test_extractor_uses_a_given_file(vgg_file, monkeypatch):
    monkeypatch.setattr(weights, "SHA256_PREFIX", _sha(vgg_file)[:8])  # accept the test file
    fx = features.FeatureExtractor(["conv1_1"], weights=vgg_file)
    saved = torch.load(vgg_file, weights_only=True)
    assert fx.is_imagenet and str(vgg_file) in fx.source
    assert torch.equal(fx.body[0].weight, saved["features.0.weight"])


def test_extractor_uses_the_environment_variable(clean_env, vgg_file, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, str(vgg_file))
    # With torchvision's hash the test file is refused, loudly, not silently replaced.
    with pytest.raises(weights.WeightsError, match=weights.ENV_VAR):
        features.FeatureExtractor(["relu1_1"])
    monkeypatch.setattr(weights, "SHA256_PREFIX", _sha(vgg_file)[:8])
    fx = features.FeatureExtractor(["relu1_1"])
    saved = torch.load(vgg_file, weights_only=True)
    assert fx.is_imagenet and weights.ENV_VAR in fx.source
    assert torch.equal(fx.body[0].bias, saved["features.0.bias"])


def test_extractor_uses_the_torch_hub_cache(clean_env, vgg_file, monkeypatch):
    assert weights_cli.main(["install", str(vgg_file), "--expected-sha256", _sha(vgg_file)[:8]]) == 0
    monkeypatch.setattr(weights, "SHA256_PREFIX", _sha(vgg_file)[:8])
    fx = features.FeatureExtractor(["relu1_1"])
    assert fx.is_imagenet and "hub cache" in fx.source


# ------------------------------------------------------------------------- offline mode
def test_offline_mode_opens_no_socket(clean_env, socket_guard, capsys):
    assert config.OFFLINE  # set by tests/conftest.py
    fx = features.FeatureExtractor(["relu1_1"])
    assert not fx.is_imagenet and "NOT ImageNet" in fx.source
    assert "NOT ImageNet" in capsys.readouterr().out  # the visible notice
    with pytest.raises(weights.WeightsError, match="offline mode"):
        weights.download()
    with pytest.raises(weights.WeightsError, match="offline"):
        features.FeatureExtractor(["relu1_1"], weights="imagenet")
    assert socket_guard == []


def test_the_socket_guard_would_see_a_download_attempt(clean_env, socket_guard, monkeypatch):
    # Proves that the guard above is able to fail: without offline mode a download tries.
    monkeypatch.setattr(config, "OFFLINE", False)
    with pytest.raises(weights.WeightsError, match="Cannot reach"):
        weights.download(dest=clean_env / "x.pth", timeout=2)
    assert socket_guard, "the download should have tried to connect"
    assert not (clean_env / "x.pth").exists()
    # After one failure the extractor does not try again and falls back.
    fx = features.FeatureExtractor(["relu1_1"], verbose=False)
    assert not fx.is_imagenet and len(socket_guard) == 1


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def local_server(vgg_file):
    handler = functools.partial(_Quiet, directory=str(vgg_file.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{vgg_file.name}"
    server.shutdown()
    server.server_close()


def test_download_verifies_then_renames(clean_env, vgg_file, local_server, monkeypatch):
    monkeypatch.setattr(config, "OFFLINE", False)
    dest = clean_env / "cache" / "vgg.pth"
    with pytest.raises(weights.WeightsError, match="corrupted"):
        weights.download(dest=dest, url=local_server, progress=False)  # expects dcbb9e9d
    assert not dest.exists() and list(dest.parent.iterdir()) == []  # no partial file left
    got = weights.download(dest=dest, url=local_server, expected_sha256_prefix=_sha(vgg_file)[:8],
                           progress=False)
    assert got == dest and _sha(dest) == _sha(vgg_file)


# --------------------------------------------------------------------------------- CLI
def test_cli_status_fetch_install_verify(clean_env, vgg_file, tmp_path, capsys):
    assert weights_cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "offline fallback" in out and "absent" in out

    assert weights_cli.main(["fetch"]) == 1
    assert "offline mode" in capsys.readouterr().err

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not weights at all")
    assert weights_cli.main(["install", str(junk)]) == 1
    assert "dcbb9e9d" in capsys.readouterr().err and not weights.cache_path().exists()

    assert weights_cli.main(["verify"]) == 1  # nothing there yet
    prefix = _sha(vgg_file)[:8]
    assert weights_cli.main(["install", str(vgg_file), "--expected-sha256", prefix]) == 0
    assert _sha(weights.cache_path()) == _sha(vgg_file)
    capsys.readouterr()
    assert weights_cli.main(["verify", "--expected-sha256", prefix]) == 0
    assert "OK" in capsys.readouterr().out
    assert weights_cli.main(["verify"]) == 1  # the default check wants torchvision's file
    assert "dcbb9e9d" in capsys.readouterr().err
    assert weights_cli.main(["status"]) == 0
    assert "present" in capsys.readouterr().out


def test_cli_runs_as_a_module(clean_env):
    env = {**os.environ, "COURSE_OFFLINE": "1", "TORCH_HOME": str(clean_env / "torch_home")}
    env.pop(weights.ENV_VAR, None)
    res = subprocess.run([sys.executable, "-m", "course_tools.weights_cli", "status"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "offline mode (COURSE_OFFLINE): on" in res.stdout
    res = subprocess.run([sys.executable, "-m", "course_tools.weights_cli", "fetch"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "offline" in res.stderr


def _normal_rights() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def test_downloaded_and_installed_files_get_normal_rights(clean_env, vgg_file, local_server, monkeypatch):
    # both write through files.atomic_path: whole or not at all, and readable like any new file
    # (the hand-made copies left mkstemp's private 0600, so a shared cache was unreadable to others)
    monkeypatch.setattr(config, "OFFLINE", False)
    prefix = _sha(vgg_file)[:8]
    got = weights.download(dest=clean_env / "dl" / "vgg.pth", url=local_server,
                           expected_sha256_prefix=prefix, progress=False)
    installed = weights_cli.install(vgg_file, clean_env / "inst" / "vgg.pth", prefix)
    for path in (got, installed):
        assert (path.stat().st_mode & 0o777) == _normal_rights() and os.listdir(path.parent) == ["vgg.pth"]
