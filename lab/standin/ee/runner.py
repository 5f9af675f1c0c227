"""One-shot migration runner of the lab's EE stand-in (compose service ``alembic`` of agenta-ee-gh).

    python -m ee.databases.postgres.migrations.runner

Agenta's EE runner: the same steps as the OSS runner (the split of v0.45, then the chains) over six chains in the
order core, core_oss, core_ee, tracing, tracing_oss, tracing_ee (version tables alembic_version,
alembic_version_oss, alembic_version_ee) and the databases agenta_ee_*. The OSS runner of the same image does the
work (lab/standin/g3/runner.py, main("ee")).
"""
import sys

from oss.databases.postgres.migrations import runner

if __name__ == "__main__":
    sys.exit(runner.main("ee"))
