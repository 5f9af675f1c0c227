"""Lab stand-in for the G1 (single tree) migration package of the Agenta API image.

Installed by the lab image build at /app/oss/databases/postgres/migrations/.
"""
