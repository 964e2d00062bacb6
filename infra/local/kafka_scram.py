"""Add (or update) a SCRAM-SHA-512 user through a running local Kafka broker.

Usage: KAFKA_SCRAM_PASSWORD=... python kafka_scram.py HOST:PORT USER

kafka.sh makes the SCRAM user of the SASL_SSL listener when it formats the storage;
this script covers storage formatted before that listener existed (or a changed user
or password). It needs kafka-python, so it runs with the project's venv; the password
comes from the environment, not the command line.
"""

from __future__ import annotations

import os
import sys

from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion


def main(bootstrap: str, user: str) -> int:
    password = os.environ["KAFKA_SCRAM_PASSWORD"]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fraudstream-local-scram")
    try:
        upsert = UserScramCredentialUpsertion(user, "SCRAM-SHA-512", password)
        errors = admin.alter_user_scram_credentials([upsert])
    finally:
        admin.close()
    if errors.get(user):
        print(f"{user}: {errors[user]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
