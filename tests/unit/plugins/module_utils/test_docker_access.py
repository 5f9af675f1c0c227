"""Unit tests of module_utils/docker_access error sentences: a one-shot container that outlives its timeout is
removed and the error names the setting to raise (the SDK's client is replaced by a minimal stand-in; the real
engine path is covered by the integration tests)."""

from __future__ import annotations

import time

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access

pytestmark = pytest.mark.skipif(not docker_access.HAS_DOCKER, reason="Docker SDK for Python not installed")


class ReadTimeout(Exception):
    """The name requests gives the client's read timeout."""


class Container:
    def __init__(self, wait_error=None):
        self.wait_error, self.removed = wait_error, False

    def start(self):
        pass

    def wait(self, timeout):
        if self.wait_error:
            raise self.wait_error
        return {"StatusCode": 0}

    def logs(self, stdout, stderr):
        return b"out" if stdout else b""

    def remove(self, force, v=False):
        self.removed = (force, v)  # v: the image's anonymous volumes go too


class Client:
    def __init__(self, container):
        self.container = container
        self.images = self
        self.containers = self

    def get(self, image):
        return image

    def create(self, image, **kwargs):
        return self.container


def test_a_container_past_its_timeout_is_removed_and_the_setting_named():
    container = Container(ReadTimeout("UnixHTTPConnectionPool(host='localhost', port=None): Read timed out. (read timeout=30)"))
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.run_oneshot(Client(container), "agenta-api:v2", ["python", "-c", "x"], timeout=30,
                                  timeout_setting="migrate_timeout")
    assert str(info.value) == ("The migration in a one-shot container of agenta-api:v2 did not finish within 30 s, so "
                               "the container was stopped and removed; if it needs longer, raise migrate_timeout "
                               "and run again.")
    assert container.removed == (True, True)


def test_other_errors_keep_their_reason():
    container = Container(RuntimeError("no such network"))
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.run_oneshot(Client(container), "agenta-api:v2", ["python"], timeout=30)
    assert str(info.value) == "Running the migration in a one-shot container of agenta-api:v2 failed: no such network."
    assert container.removed == (True, True)


class StartRefused(Container):
    def start(self):
        raise docker_access.docker_errors.APIError("error mounting /var/backups/agenta/x: no such file or directory")


class StartLost(Container):
    def start(self):
        raise ConnectionError("Connection aborted.")


class NoNetwork(Client):
    def __init__(self, container):
        Client.__init__(self, container)
        self.networks = self

    def get(self, image):
        if image == "gone_default":  # the one network of this stand-in; images and networks share get()
            raise RuntimeError("network gone_default not found")
        return image


def test_an_error_says_whether_the_container_started():
    # After the start: what ran in it may have changed something.
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.run_oneshot(Client(Container(RuntimeError("connection reset"))), "img", ["true"])
    assert info.value.started is None
    # Before it (the container would not start, the network cannot be inspected): nothing ran.
    container = StartRefused()
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.run_oneshot(Client(container), "img", ["true"])
    assert info.value.started is False and container.removed == (True, True)
    assert str(info.value).endswith("failed: error mounting /var/backups/agenta/x: no such file or directory.")
    # A connection lost during the start may have left it running.
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.run_oneshot(Client(StartLost()), "img", ["true"])
    assert info.value.started is None
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.run_oneshot(NoNetwork(Container()), "img", ["true"], network="gone_default")
    assert info.value.started is False
    assert str(info.value) == "Could not inspect network gone_default: network gone_default not found."


def test_a_finished_container_returns_its_output():
    container = Container()
    assert docker_access.run_oneshot(Client(container), "img", ["true"]) == (0, b"out", b"")
    assert container.removed == (True, True)


class SlowContainer(Container):
    """A container that runs for a while; the watch sees it while it runs."""

    def wait(self, timeout):
        time.sleep(0.35)
        return {"StatusCode": 0}


def test_the_watch_sees_the_running_container_and_stops_with_it(monkeypatch):
    monkeypatch.setattr(docker_access, "WATCH_FIRST", 0.05)
    monkeypatch.setattr(docker_access, "WATCH_EVERY", 0.05)
    container, seen = SlowContainer(), []
    docker_access.run_oneshot(Client(container), "img", ["true"], watch=seen.append)
    assert seen and all(c is container for c in seen)
    count = len(seen)
    time.sleep(0.2)
    assert len(seen) == count  # stopped when the container ended


def test_a_watch_that_fails_does_not_fail_the_run(monkeypatch):
    monkeypatch.setattr(docker_access, "WATCH_FIRST", 0.05)
    monkeypatch.setattr(docker_access, "WATCH_EVERY", 0.05)

    def broken(_container):
        raise RuntimeError("journal not writable")
    assert docker_access.run_oneshot(Client(SlowContainer()), "img", ["true"], watch=broken) == (0, b"out", b"")
