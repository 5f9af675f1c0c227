"""Lab stand-in for the Agenta API container (stdlib only, plus psycopg2 for the health check).

    python /app/standin/server.py        # listens on 0.0.0.0:${PORT:-8000}

GET /health and GET /api/health answer 200 {"status": "ok"} when the database answers,
else 503 {"status": "error", "detail": "..."}. Everything else is 404.

Database URL: the same rule as the migrations' env.py, with "+asyncpg" removed for psycopg2:
g1 uses POSTGRES_URI, g2/g3 POSTGRES_URI_CORE; when unset, POSTGRES_USER, POSTGRES_PASSWORD,
POSTGRES_DB_PREFIX (default agenta_oss; g2/g3 add "_core"), host postgres, port 5432.
The layout is AGENTA_LAB_LAYOUT (g1/g2/g3) when set, else g2/g3 when the image has a
migrations/core/alembic.ini, else g1.
"""
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

MIGRATIONS_DIR = os.environ.get(
    "AGENTA_LAB_MIGRATIONS_DIR", "/app/oss/databases/postgres/migrations"
)
HEALTH_PATHS = ("/health", "/api/health")


def layout(env=None) -> str:
    env = os.environ if env is None else env
    value = (env.get("AGENTA_LAB_LAYOUT") or "").strip().lower()
    if value in ("g1", "g2", "g3"):
        return value
    if os.path.isfile(os.path.join(MIGRATIONS_DIR, "core", "alembic.ini")):
        return "g3"
    return "g1"


def database_url(env=None) -> str:
    """psycopg2 URL of the (core) database."""
    env = os.environ if env is None else env
    g1 = layout(env) == "g1"
    uri = env.get("POSTGRES_URI" if g1 else "POSTGRES_URI_CORE")
    if not uri:
        user = quote(env.get("POSTGRES_USER") or "username", safe="")
        password = quote(env.get("POSTGRES_PASSWORD") or "password", safe="")
        prefix = env.get("POSTGRES_DB_PREFIX") or "agenta_oss"
        uri = f"postgresql://{user}:{password}@postgres:5432/{prefix}{'' if g1 else '_core'}"
    return uri.replace("+asyncpg", "", 1)


def check_database():
    """Return None when the database answers, else a short reason."""
    try:
        import psycopg2
    except ImportError as exc:  # pragma: no cover - the image always has it
        return f"psycopg2 missing: {exc}"
    try:
        conn = psycopg2.connect(database_url(), connect_timeout=3)
    except Exception as exc:
        return "database unreachable: " + " ".join(str(exc).split())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return None
    except Exception as exc:
        return "database query failed: " + " ".join(str(exc).split())
    finally:
        conn.close()


class Handler(BaseHTTPRequestHandler):
    server_version = "agenta-lab-standin/1"
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: dict, head_only: bool = False) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def _route(self, head_only: bool) -> None:
        path = urlsplit(self.path).path
        if len(path) > 1:
            path = path.rstrip("/")
        if path in HEALTH_PATHS:
            problem = check_database()
            if problem is None:
                self._send(200, {"status": "ok"}, head_only)
            else:
                self._send(503, {"status": "error", "detail": problem}, head_only)
        else:
            self._send(404, {"detail": "Not Found"}, head_only)

    def do_GET(self):  # noqa: N802 (http.server naming)
        self._route(head_only=False)

    def do_HEAD(self):  # noqa: N802
        self._route(head_only=True)

    def log_message(self, format, *args):  # quiet: only errors reach stderr
        pass

    def log_error(self, format, *args):
        sys.stderr.write("standin: " + (format % args) + "\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> int:
    port = int(os.environ.get("PORT") or 8000)
    httpd = Server(("0.0.0.0", port), Handler)

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns, so call it from another thread
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"standin: listening on 0.0.0.0:{port} (layout {layout()})", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
    print("standin: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
