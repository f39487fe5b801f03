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
	$(VENV)/ruff format --check bot tests bench || true
	$(VENV)/mypy
	$(VENV)/lint-imports

bench: setup
	$(VENV)/python -m bench
