# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the alembic_migration modules: no Docker, no Ansible imports."""

from __future__ import annotations

import json
import re

from ansible_collections.agenta.fleet.plugins.module_utils.alembic_driver import MARKER, PROGRESS

# Agenta's runner order: legacy core, core_oss, (core_ee), legacy tracing, tracing_oss, (tracing_ee).
# 'oss' is the single G1 tree.
CHAIN_ORDER = ("oss", "core", "core_oss", "core_ee", "tracing", "tracing_oss", "tracing_ee")
MIGRATIONS_DIR = "/app/oss/databases/postgres/migrations"
DEFAULT_CONTAINER = "agenta-oss-gh-api-1"

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class EnvFileError(ValueError):
    pass


def mask(text, env=None):
    """Hide passwords: the part of '://user:PASSWORD@' and the values of variables named *PASSWORD*."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(r"\1********\3", text)
    for key, value in (env or {}).items():
        if "PASSWORD" in key.upper() and value and len(value) >= 3:
            text = text.replace(value, "********")
    return text


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])(.*))?$", re.S)


def _closing_brace(value, start):
    """Index of the '}' that closes the '${' before start ('${' inside count as nested), or -1."""
    depth, pos = 1, start
    while pos < len(value):
        if value.startswith("${", pos):
            depth += 1
            pos += 2
            continue
        if value[pos] == "}":
            depth -= 1
            if depth == 0:
                return pos
        pos += 1
    return -1


def _interpolate(value, known, where="the env file"):
    """Compose's interpolation of an env file value: $$ is a literal $, $NAME and ${NAME} take an earlier line's
    value (unset: empty), ${NAME-x} / ${NAME:-x} give x when NAME is unset / unset or empty, ${NAME+x} /
    ${NAME:+x} give x when it is set / set and not empty, ${NAME?msg} / ${NAME:?msg} refuse the file when it is
    unset / unset or empty. Defaults may hold references themselves. A $ before anything else stays a $."""
    out, pos = [], 0
    while pos < len(value):
        char = value[pos]
        if char != "$":
            out.append(char)
            pos += 1
            continue
        if value.startswith("$$", pos):
            out.append("$")
            pos += 2
            continue
        if value.startswith("${", pos):
            end = _closing_brace(value, pos + 2)
            if end < 0:
                raise EnvFileError("%s has a ${ without its closing }." % where)
            out.append(_expand(value[pos + 2:end], known, where))
            pos = end + 1
            continue
        name = _NAME.match(value, pos + 1)
        if name:
            out.append(known.get(name.group(0)) or "")
            pos = name.end()
            continue
        out.append("$")
        pos += 1
    return "".join(out)


def _expand(body, known, where):
    match = _BRACED.match(body)
    if not match:
        raise EnvFileError("%s has an invalid reference ${%s}." % (where, body.split(":")[0].split("}")[0][:40]))
    name, op, arg = match.groups()
    found = known.get(name)
    if op is None:
        return found or ""
    is_set = found is not None and (found != "" or not op.startswith(":"))
    kind = op[-1]
    if kind == "-":
        return found if is_set else _interpolate(arg, known, where)
    if kind == "+":
        return _interpolate(arg, known, where) if is_set else ""
    if not is_set:
        raise EnvFileError("%s requires %s to be set%s: %s." % (
            where, name, "" if not op.startswith(":") else " and not empty", arg or "no message"))
    return found


def parse_env_file(text, source="env file"):
    """Parse a Compose-style env file: KEY=VALUE lines, '#' comments, optional 'export ',
    single quotes (literal), double quotes (escapes \\n \\t \\" \\\\ and ${VAR}), unquoted values
    with trailing ' #comment' removed and ${VAR} / $VAR references to earlier keys expanded."""
    result = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        raw = lines[index]
        index += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        if "=" not in line:
            if _ENV_NAME.match(line):
                continue  # a bare name: Compose takes it from the shell environment; we have none
            raise EnvFileError("Line %d of %s is not KEY=VALUE." % (index, source))
        key, value = line.split("=", 1)
        key = key.strip()
        if not _ENV_NAME.match(key):
            raise EnvFileError("Line %d of %s has an invalid variable name %r." % (index, source, key))
        value = value.lstrip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            body = value[1:]
            opened = index  # the line the quote opens on, for the error message
            # Quoted values may span lines.
            while True:
                end = _closing_quote(body, quote)
                if end >= 0 or index >= len(lines):
                    break
                body += "\n" + lines[index]
                index += 1
            if end < 0:
                raise EnvFileError("Line %d of %s has an unterminated quote." % (opened, source))
            inner = body[:end]
            if quote == '"':
                inner = _unescape(inner)
                inner = _interpolate(inner, result, "Line %d of %s" % (opened, source))
            value = inner
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].rstrip()
            value = _interpolate(value, result, "Line %d of %s" % (index, source))
        result[key] = value
    return result


def _closing_quote(body, quote):
    escaped = False
    for pos, char in enumerate(body):
        if quote == '"' and char == "\\" and not escaped:
            escaped = True
            continue
        if char == quote and not escaped:
            return pos
        escaped = False
    return -1


def _unescape(value):
    # \$ stays a literal $: it goes on as $$, which the interpolation reads as one $.
    table = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$$"}
    out, pos = [], 0
    while pos < len(value):
        char = value[pos]
        if char == "\\" and pos + 1 < len(value) and value[pos + 1] in table:
            out.append(table[value[pos + 1]])
            pos += 2
            continue
        out.append(char)
        pos += 1
    return "".join(out)


def parse_driver_output(stdout):
    """Return the driver's result dict, or None when no result line is present."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", "replace")
    found = None
    for line in (stdout or "").splitlines():
        pos = line.find(MARKER)
        if pos >= 0:
            try:
                found = json.loads(line[pos + len(MARKER):])
            except ValueError:
                continue
    return found


def split_progress(stderr):
    """The driver's stderr -> (its other lines, the last progress dict or None). The driver writes a PROGRESS
    line at the start of each chain and after each revision ({"chain", "applied", "of"})."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    rest, last = [], None
    for line in (stderr or "").splitlines(True):
        pos = line.find(PROGRESS)
        if pos < 0:
            rest.append(line)
            continue
        try:
            found = json.loads(line[pos + len(PROGRESS):])
        except ValueError:
            continue
        if isinstance(found, dict):
            last = found
    return "".join(rest), last


def last_line(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for line in reversed((text or "").splitlines()):
        if line.strip():
            return line.strip()
    return ""


def validate(params, action):
    """Checks that need no container. Return one sentence, or None."""
    chains = params.get("chains") or []
    targets = params.get("targets") or {}
    for name in list(chains) + list(targets):
        if name not in CHAIN_ORDER:
            return "Unknown chain %s; known chains are %s." % (name, ", ".join(CHAIN_ORDER))
    for name, rev in targets.items():
        if not isinstance(rev, str) or not rev.strip():
            return "The target of chain %s must be a revision id." % name
    if action == "downgrade":
        if not targets:
            return "state: downgraded needs targets: the revision to return to for each chain."
        if any(rev == "head" for rev in targets.values()):
            return ("Refusing to downgrade to head: 'alembic downgrade head' is a silent no-op; "
                    "name the revision to return to.")
        if chains:
            extra = [name for name in chains if name not in targets]
            if extra:
                return "Chain %s is listed in chains but has no target to downgrade to." % extra[0]
    if params.get("env_file") and not params.get("image"):
        return "env_file is used only with image (a one-shot container); an exec uses the container's own environment."
    if action in ("upgrade", "downgrade") and params.get("lock_timeout", 0) < 0:
        return "lock_timeout must be a number of seconds from 0, not %s." % params.get("lock_timeout")
    if action in ("upgrade", "downgrade") and params.get("lock_timeout", 0) >= params.get("timeout", 600):
        return "lock_timeout (%s s) must be below timeout (%s s), which bounds the whole run." % (
            params.get("lock_timeout"), params.get("timeout"))
    if not params.get("image") and bool(params.get("compose_project")) != bool(params.get("compose_service")):
        return "compose_project and compose_service go together to find the container to exec into."
    if params.get("network") and not params.get("image"):
        return "network is used only with image (a one-shot container)."
    return None


def build_spec(params, action, check, holder):
    targets = dict(params.get("targets") or {})
    chains = list(params.get("chains") or [])
    if action == "downgrade" and not chains:
        chains = sorted(targets, key=CHAIN_ORDER.index)
    return {
        "action": action,
        "chains": chains,
        "targets": targets,
        "check": bool(check),
        "allow_irreversible": bool(params.get("allow_irreversible")),
        "lock_timeout": params.get("lock_timeout", 300),
        "holder": holder,
        "release_runner": bool(params.get("release_runner", True)),
        "timeout": params.get("timeout", 600),
    }


def diff_text(chains, key):
    lines = []
    for chain in chains:
        lines.append("%s: %s\n" % (chain["name"], chain.get(key) or "base"))
    return "".join(lines)


def planned_after(chain):
    """In check mode: where the chain would stand."""
    if chain.get("pending"):
        return chain.get("target") or chain.get("before")
    return chain.get("before")


# -- output noise ------------------------------------------------------------------------------
#
# Importing Agenta's modules (env.py does) prints library noise around Alembic's lines: Python warnings
# raised inside site-packages (pydantic's "Field name ... shadows an attribute"), and LiteLLM's messages
# about fetching its model price list. filter_output() drops those blocks and keeps everything else:
# Alembic's lines, errors and tracebacks, and what the migrations print themselves.

_WARNING_HEADER = re.compile(r"^(?P<path>.+?):\d+: (?P<category>[A-Za-z_]\w*): ")
_LIBRARY_PATHS = ("site-packages", "dist-packages", "<frozen ")
_PRICE_LIST_MARKERS = ("model cost map", "model_prices_and_context_window")
_PRICE_LIST_END = "Falling back to local backup"
_BLOCK_LINES = 8  # a noise block never runs longer than this
# Agenta's own structured log lines at import time ("2026-12-02T07:59:58.289Z [INFO.] Outbound egress is in
# restricted mode ... [agenta.sdk.utils.net]"), with or without colours: INFO and DEBUG are noise here; warnings
# and errors stay.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_AGENTA_INFO = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[(INFO|DEBUG)\.*\] ")


def _is_alembic_line(line):
    return "[alembic" in line or line.lstrip().startswith(("Running upgrade", "Running downgrade"))


def _is_library_warning(line):
    """A warnings.showwarning() header ('<file>:<line>: <Category>: message') raised inside a library."""
    match = _WARNING_HEADER.match(line)
    return bool(match) and any(part in match.group("path") for part in _LIBRARY_PATHS)


def _is_price_list_message(line):
    return "litellm" in line.lower() and any(marker in line for marker in _PRICE_LIST_MARKERS)


def _block_end(lines, start, is_last):
    """Index of the last line of a noise block opened at lines[start]: the first following line (within
    _BLOCK_LINES, before any Alembic line) for which is_last(line) holds; start itself when there is none."""
    for index in range(start + 1, min(len(lines), start + 1 + _BLOCK_LINES)):
        if _is_alembic_line(lines[index]):
            break
        if is_last(lines[index]):
            return index
    return start


def filter_output(text):
    """Alembic's output without the import noise of Agenta's libraries (see above)."""
    if not text:
        return text
    lines = text.splitlines()
    kept, index = [], 0
    while index < len(lines):
        line = lines[index]
        if _is_library_warning(line):
            # The message may span lines; the block ends with the indented source line warnings prints.
            index = _block_end(lines, index, lambda later: later[:1] in (" ", "\t")) + 1
            continue
        if _is_price_list_message(line):
            if _PRICE_LIST_END not in line:
                index = _block_end(lines, index, lambda later: _PRICE_LIST_END in later)
            index += 1
            continue
        if _AGENTA_INFO.match(_ANSI.sub("", line)):
            index += 1
            continue
        if line.strip() == "warnings.warn(":
            index += 1
            continue
        kept.append(line)
        index += 1
    return "\n".join(kept) + ("\n" if text.endswith("\n") and kept else "")


def shape_output(entry, verbose):
    """Filter entry['output'] in place; keep the unfiltered text as output_full only when verbose."""
    if entry is None:
        return
    full = entry.get("output") or ""
    entry["output"] = filter_output(full)
    if verbose:
        entry["output_full"] = full
    else:
        entry.pop("output_full", None)


# -- alembic_migration_info ----------------------------------------------------------------------


def pending_total(chains):
    """Revisions pending over all chains; None when one chain's pending cannot be told."""
    if any(chain.get("pending") is None for chain in chains):
        return None
    return sum(len(chain["pending"]) for chain in chains)


def info_summary(chains):
    """One sentence on where the chains stand. chains: the module's entries (name, current, pending, unknown)."""
    unknown = [c for c in chains if c.get("pending") is None and c.get("unknown")]
    if unknown:
        return ("The database is at a revision this image does not know (%s): migrate with the image of the "
                "release that wrote it, or a newer one." % ", ".join(
                    "chain %s at %s" % (c["name"], ", ".join(c["unknown"])) for c in unknown))
    undecided = [c["name"] for c in chains if c.get("pending") is None]
    if undecided:
        return ("Chain %s has several heads in this image, so what is pending cannot be told; Alembic would fail "
                "with 'Multiple head revisions', so use the image of another release." % ", ".join(undecided))
    behind = [c for c in chains if c.get("pending")]
    if not behind:
        return "Every chain is at its head in this image; nothing is pending."
    total = pending_total(chains)
    return "%d revision%s pending: %s." % (total, " is" if total == 1 else "s are",
                                           ", ".join("%d in %s" % (len(c["pending"]), c["name"]) for c in behind))
