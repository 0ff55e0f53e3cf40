"""Make MLflow's pipeline and serving users (compose: the mlflow-init service, once per `make up`;
Kubernetes: the mlflow-users Job).

    MLFLOW_URL=http://mlflow:5000 MLFLOW_AUTH_ADMIN_PASSWORD=... \
    MLFLOW_PIPELINE_PASSWORD=... MLFLOW_SERVING_PASSWORD=... python create_users.py

Idempotent: a user that exists gets its password set to the current value, so changing a password
in .env and running `make up` again rotates it. Standard library only (it runs in the MLflow image).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.error
import urllib.request

USERS = {"pipeline": "MLFLOW_PIPELINE_PASSWORD", "serving": "MLFLOW_SERVING_PASSWORD"}


def call(url: str, method: str, path: str, body: dict[str, str], admin_password: str) -> tuple[int, str]:
    token = base64.b64encode(f"admin:{admin_password}".encode()).decode()
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def main() -> int:
    url = os.environ.get("MLFLOW_URL", "http://mlflow:5000").rstrip("/")
    admin_password = os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"]
    for username, variable in USERS.items():
        password = os.environ[variable]
        body = {"username": username, "password": password}
        status, text = call(url, "POST", "/api/2.0/mlflow/users/create", body, admin_password)
        if status == 200:
            print(f"created MLflow user {username}")
            continue
        if "RESOURCE_ALREADY_EXISTS" not in text:
            print(f"cannot create MLflow user {username}: HTTP {status} {text}", file=sys.stderr)
            return 1
        status, text = call(url, "PATCH", "/api/2.0/mlflow/users/update-password", body, admin_password)
        if status != 200:
            print(f"cannot set the password of MLflow user {username}: HTTP {status} {text}", file=sys.stderr)
            return 1
        print(f"MLflow user {username} exists; password set from {variable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
