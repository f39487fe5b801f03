.PHONY: setup run demo test lint bench
VENV := .venv/bin

setup:
	./scripts/setup

run: setup
	$(VENV)/imagecheck serve

test: setup
	$(VENV)/python -m pytest -q

lint: setup
	$(VENV)/ruff check bot tests bench
	$(VENV)/mypy
	$(VENV)/lint-imports
	$(VENV)/hadolint Dockerfile
	$(VENV)/kubernetes-validate --strict --quiet deploy/kubernetes/configmap.yaml deploy/kubernetes/secret.example.yaml deploy/kubernetes/deployment.yaml deploy/kubernetes/service.yaml deploy/kubernetes/ingress.yaml deploy/kubernetes/pdb.yaml deploy/kubernetes/redis.yaml

demo: setup
	$(VENV)/python scripts/demo.py

bench: setup
	$(VENV)/python -m bench
