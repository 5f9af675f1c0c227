# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A thin layer over the Docker SDK for Python: find a container, exec an argv list in it, or run a
one-shot container. Commands are argv lists only; nothing goes through a shell."""

from __future__ import annotations

import threading
import traceback
import uuid

try:
    import docker
    from docker import errors as docker_errors
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    docker = None
    docker_errors = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONESHOT_LABEL = "agenta.fleet.alembic_migration"


class DockerAccessError(Exception):
    """One sentence that says what is wrong. started is False when run_oneshot failed before its container started
    (nothing ran in it), else None."""
    started = None


def _not_started(exc):
    exc.started = False
    return exc


def _reason(exc):
    text = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(str(text).split()).rstrip(".")


def connect(docker_host=None, timeout=600):
    base_url = docker_host or DEFAULT_DOCKER_HOST
    try:
        client = docker.DockerClient(base_url=base_url, timeout=int(timeout), version="auto")
        client.ping()
    except Exception as exc:
        raise DockerAccessError("Could not reach the Docker engine at %s: %s." % (base_url, _reason(exc)))
    return client


def ensure_image(client, image, pull=True):
    """(present, pulled, error) of an image on the engine: a missing one is pulled when pull is true (the engine's
    own registry login applies); error is the engine's sentence when that pull failed."""
    try:
        client.images.get(image)
        return True, False, None
    except docker_errors.ImageNotFound:
        pass
    except Exception as exc:
        raise DockerAccessError("Could not inspect image %s: %s." % (image, _reason(exc)))
    if not pull:
        return False, False, None
    try:
        client.images.pull(image)
    except Exception as exc:
        return False, False, _reason(exc) or "no output"
    return True, True, None


def running_with_image(client, project, service, image):
    """The project's running container of service when it runs that very image (the same image ID), else None."""
    try:
        wanted = client.images.get(image).id
        labels = ["%s=%s" % (PROJECT_LABEL, project), "%s=%s" % (SERVICE_LABEL, service)]
        found = client.containers.list(filters={"label": labels, "status": "running"})
    except Exception:
        return None
    for container in found:
        if container.labels.get("com.docker.compose.oneoff", "False") == "True":
            continue
        if container.attrs.get("Image") == wanted:
            return container
    return None


def find_container(client, name=None, project=None, service=None, require_running=True):
    if project or service:
        if not (project and service):
            raise DockerAccessError("compose_project and compose_service go together.")
        labels = ["%s=%s" % (PROJECT_LABEL, project), "%s=%s" % (SERVICE_LABEL, service)]
        try:
            found = client.containers.list(all=True, filters={"label": labels})
        except Exception as exc:
            raise DockerAccessError("Could not list containers: %s." % _reason(exc))
        found = [c for c in found if c.labels.get("com.docker.compose.oneoff", "False") != "True"]
        if not found:
            raise DockerAccessError("Could not find a container of service %s in compose project %s."
                                    % (service, project))
        running = sorted([c for c in found if c.status == "running"], key=lambda c: c.name)
        container = running[0] if running else sorted(found, key=lambda c: c.name)[0]
    else:
        try:
            container = client.containers.get(name)
        except docker_errors.NotFound:
            raise DockerAccessError("Could not find container %s." % name)
        except Exception as exc:
            raise DockerAccessError("Could not inspect container %s: %s." % (name, _reason(exc)))
    if require_running and container.status != "running":
        raise DockerAccessError("Container %s is not running (status %s)." % (container.name, container.status))
    return container


def project_containers(client, project):
    """Every container (running or not) of a compose project. Raises DockerAccessError (one sentence)."""
    label = "%s=%s" % (PROJECT_LABEL, project)
    try:
        return client.containers.list(all=True, filters={"label": label})
    except Exception as exc:
        raise DockerAccessError("Could not list the containers of compose project %s: %s." % (project, _reason(exc)))


def start_again(client, project, names):
    """Start the named containers of the project again (after a failure that left the data as it was); -> the
    problems, one phrase each (a container that did not start, or is gone); never raises."""
    try:
        containers = [c for c in project_containers(client, project) if c.name in names]
    except DockerAccessError as exc:
        if not names:
            return []
        return ["the stopped containers (%s) were not started again (%s)"
                % (", ".join(sorted(names)), str(exc).rstrip("."))]
    problems = ["%s is gone" % name for name in sorted(set(names) - set(c.name for c in containers))]
    for container in containers:
        try:
            container.start()
        except Exception as exc:  # pylint: disable=broad-except  # the phrase names what was not started
            problems.append("%s did not start (%s)" % (container.name, _reason(exc)))
    return problems


def container_exists(client, name):
    try:
        return client.containers.get(name)
    except Exception:
        return None


def exec_argv(client, container, argv, environment=None, workdir=None, purpose="the migration"):
    """Run argv in a running container. Return (exit code, stdout bytes, stderr bytes)."""
    try:
        exec_id = client.api.exec_create(container.id, argv, stdout=True, stderr=True,
                                         environment=environment or {}, workdir=workdir)["Id"]
        out, err = client.api.exec_start(exec_id, demux=True)
        code = client.api.exec_inspect(exec_id).get("ExitCode")
    except docker_errors.NotFound:
        raise DockerAccessError("Container %s disappeared while %s ran." % (container.name, purpose))
    except Exception as exc:
        raise DockerAccessError("Running %s in container %s failed: %s." % (purpose, container.name, _reason(exc)))
    return code, out or b"", err or b""


def network_of(container):
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return sorted(networks)[0] if networks else None


def timed_out(exc):
    """Whether an SDK error is the client's read timeout (the container outlived the wait)."""
    return "timed out" in _reason(exc).lower() or type(exc).__name__ in ("ReadTimeout", "ReadTimeoutError")


WATCH_FIRST, WATCH_EVERY = 0.3, 1.0  # seconds before the first call of run_oneshot's watch, and between two


class _Watch(threading.Thread):
    """Calls watch(container) WATCH_FIRST seconds after the start, then every WATCH_EVERY seconds until stopped;
    never raises into the caller."""

    def __init__(self, container, watch):
        super(_Watch, self).__init__()
        self.daemon = True
        self.container, self.watch = container, watch
        self.stopped = threading.Event()
        self.start()

    def run(self):
        wait = WATCH_FIRST
        while not self.stopped.wait(wait):
            wait = WATCH_EVERY
            try:
                self.watch(self.container)
            except Exception:  # pylint: disable=broad-except  # a sign of life must not break the step
                pass

    def stop(self):
        self.stopped.set()
        self.join(10)


def run_oneshot(client, image, argv, environment=None, network=None, workdir=None, timeout=600, volumes=None,
                purpose="the migration", name_prefix="agenta-fleet-alembic", labels=None,
                timeout_setting="the module's timeout", watch=None):
    """Run argv in a new container of image, wait for it, remove it. Return (code, stdout, stderr).
    environment is set through the API (never an argument); volumes as the SDK takes them
    ({host path: {"bind": path, "mode": "ro"}}). A container that runs longer than timeout is removed, and the
    error names timeout_setting, the setting to raise. watch(container), when given, is called every
    WATCH_EVERY seconds while the container runs (signs of life; its errors are ignored)."""
    try:
        client.images.get(image)
    except docker_errors.ImageNotFound:
        raise _not_started(DockerAccessError("Image %s is not on this host; pull it first." % image))
    except Exception as exc:
        raise _not_started(DockerAccessError("Could not inspect image %s: %s." % (image, _reason(exc))))
    if network:
        try:
            client.networks.get(network)
        except docker_errors.NotFound:
            raise _not_started(DockerAccessError("Could not find network %s." % network))
        except Exception as exc:
            raise _not_started(DockerAccessError("Could not inspect network %s: %s." % (network, _reason(exc))))
    name = "%s-%s" % (name_prefix, uuid.uuid4().hex[:10])
    container = None
    started = False
    try:
        try:
            container = client.containers.create(
                image, entrypoint=argv[:1], command=argv[1:], environment=environment or {},
                network=network, working_dir=workdir, name=name,
                labels=labels if labels is not None else {ONESHOT_LABEL: "oneshot"}, volumes=volumes or None,
                detach=True)
            container.start()
            started = True
            watcher = _Watch(container, watch) if watch is not None else None
            try:
                status = container.wait(timeout=timeout)
            finally:
                if watcher is not None:
                    watcher.stop()
            code = status.get("StatusCode") if isinstance(status, dict) else status
            out = container.logs(stdout=True, stderr=False)
            err = container.logs(stdout=False, stderr=True)
        except Exception as exc:
            if container is not None and timed_out(exc):
                raise DockerAccessError("%s%s in a one-shot container of %s did not finish within %s s, so the container "
                                        "was stopped and removed; if it needs longer, raise %s and run again."
                                        % (purpose[:1].upper(), purpose[1:], image, timeout, timeout_setting))
            error = DockerAccessError("Running %s in a one-shot container of %s failed: %s."
                                      % (purpose, image, _reason(exc)))
            # Not started only when the engine refused to create or start it (an API error); a connection that broke
            # during the start may have left it running.
            refused = container is None or isinstance(exc, docker_errors.APIError)
            raise error if started or not refused else _not_started(error)
    finally:
        if container is not None:
            try:
                # v=True: the anonymous volumes the image declares (postgres images: VOLUME
                # /var/lib/postgresql/data) go with the one-shot; named volumes it mounted stay.
                container.remove(force=True, v=True)
            except Exception:
                pass
    return code, out or b"", err or b""
